"""Load: N real browser sessions train at once against one Classifier Studio server.

Starts `streamlit run app.py` on loopback (its own TMPDIR, so the job manager's
`studio-jobs-*` root is found and checked), opens N Chromium contexts (Debian's
/usr/bin/chromium through Playwright; one context = one browser session), and in each one
loads the students sample on Data, goes to Train, sets Epochs and Batch size and, once all
are ready, clicks Train in session order, --stagger seconds apart. K of them (--close,
spread over the order) train a run too long to end by itself (10,000 epochs, batch 1) and
close their tab as soon as their page shows the job running; the others wait for their own
result. Then every tab closes, the sessions' folders must go once their leases run out, the
server stops, and what is left is counted.

How it observes, without touching app code:

  pages     a MutationObserver in every page (add_init_script) logs, with Date.now(), each
            change of the progress text "Epoch E of T · S s elapsed · STATE", of the queue
            line "place P", of the result line "Finished after E epochs on D", of the
            sidebar's "finished after E epochs, X s", any traceback, and each click on Train
            (the submit moment). A job's start = min over its "running" texts of
            (time shown - S s elapsed): the server's own clock difference, read off the page;
            its end = start + X. So: wait = start - click, run = X, click-to-visible = the
            first progress text or queue line after the click - click, result latency = the
            first "Finished after" - end; "start → epoch ≥ 1 shown" = the first progress text
            past epoch 0 - start (about 1 s when events flow: a page refreshes every second).
            "page busy" = spans from the app's data-test-script-state turning "running" to
            "notRunning" (script and fragment runs; runs back to back merge into one span).
  server    every 0.1 s /proc: the server's children running `mlcore.worker`; a worker has
            a job once its nice is above 0 (the worker renices itself to the job's limit when
            it gets one; the warm spare stays at 0), and it is gone when its pid is. A closed
            session's job is the worker whose job began nearest its page's start; "stopped"
            = that pid gone, timed from the tab's close. Every 0.1 s the manager's root: a
            session's folder appears just before its job is queued (new_run_dir, then
            submit) and its run-1 at the job's first checkpoint, just after it starts, so
            their first sightings give the server's queue order and start order (clicks
            --stagger s apart may still be queued in another order when a click's script run
            is slow). Every 0.5 s the resident size of the server and its children (peak of
            the sum; the server's VmHWM at the end), CPU seconds of the server, workers,
            Chromium and the rest of the machine, and /proc/pressure/cpu (time some task
            waited for a CPU: how busy the shared machine was).
  left      after the server stops: processes still carrying this run's environment tag
            (workers, chromium, anything), and `studio-jobs-*` folders in the server's TMPDIR.

Targets (printed as met / not met): every kept session finishes with its own result (its
own epoch count); start order = submit order; closed sessions' workers gone within 45 s of
the close; every page shows its queued job within 1 s of the click and its result within
2 s of the job's end, while every training slot is busy; nothing left behind.

Run from the repository root (about 3 minutes for the defaults on 2 cores):
  .venv/bin/python bench/load_sessions.py                          # 8 sessions, 2 close
  .venv/bin/python bench/load_sessions.py --sessions 4 --close 1 --epochs 200 --lease 8
  .venv/bin/python bench/load_sessions.py --json out.json --shots test-artifacts
The server runs with the app's defaults (STUDIO_MAX_JOBS: cores - 1, lease 30 s) unless
--slots / --lease say otherwise. Chromium also gets --disable-background-timer-throttling
and --disable-renderer-backgrounding, so a page's 1 s refresh is not slowed by the browser.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, too
from bench.load_probes import (TAG, TIE_S, Sampler, jobs_root,  # noqa: E402
                               session_folders, start_server, stop_server, tagged, vm_hwm)
from ui.train_form import RECIPE_TEXT  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STEADY = ["--disable-background-timer-throttling", "--disable-renderer-backgrounding",
          "--disable-backgrounding-occluded-windows"]
VIEWPORT = {"width": 1200, "height": 1400}
CLASSIC = RECIPE_TEXT["classic"]  # the Recipe option the sessions pick
LONG_EPOCHS, LONG_BATCH = 10_000, 1   # a closing session's run: minutes, unless stopped
RESULT_WAIT_S = 60   # a kept page whose job ended this long ago without its result: missing


# ---- the pages -------------------------------------------------------------------------
OBSERVER = r"""
(() => {
  if (window.__studio) return;
  const log = [];
  window.__studio = log;
  const last = {};
  const patterns = [
    ["progress", "main", new RegExp("Epoch (\\d+) of (\\d+)(?: · rows [^·]*)? · ([\\d.]+) s " +
      "elapsed(?: · about [\\d,]+ s left)? · " +
      "(queued|running|stopping|finished|failed|stopped|expired)")],
    ["place", "main", /Waiting for a free training slot \(place (\d+) in the queue\)/],
    ["result", "main", new RegExp("(Finished|Stopped by you|Stopped: .*?\\.|" +
      "Stopped early \\(.*?\\)) after (\\d+) epochs on (\\w+)")],
    ["error", "main", /Training (failed|expired|stopped): [^\n]*?\./],
    ["sidebar", "side", /(finished|stopped) after (\d+) epochs, ([\d.]+) s/],
    ["sidebar_end", "side", /(failed|expired): [^\n]*/],
    ["guarded", "main", /Something went wrong on [^(]*\(error \w+/],
  ];
  let pending = false, lastRun = 0;
  function check() {
    pending = false;
    lastRun = Date.now();
    const main = document.querySelector('[data-testid="stMain"]');
    const side = document.querySelector('[data-testid="stSidebar"]');
    const texts = {main: main ? main.textContent : "", side: side ? side.textContent : ""};
    for (const [kind, where, re] of patterns) {
      const m = texts[where].match(re);
      const value = m ? m[0] : null;
      if (value !== last[kind]) {
        last[kind] = value;
        if (value !== null) log.push([Date.now(), kind, value]);
      }
    }
    const app = document.querySelector('[data-testid="stApp"]');
    const run = app ? app.getAttribute("data-test-script-state") : null;
    if (run !== last.script) {
      last.script = run;
      if (run !== null) log.push([Date.now(), "script", run]);
    }
    const exc = document.querySelector('[data-testid="stException"]');
    const excText = exc ? exc.textContent.slice(0, 400) : null;
    if (excText !== last.exception) {
      last.exception = excText;
      if (excText !== null) log.push([Date.now(), "exception", excText]);
    }
  }
  function schedule() {
    if (pending) return;
    pending = true;
    const wait = Math.max(0, 20 - (Date.now() - lastRun));
    setTimeout(check, wait);
  }
  new MutationObserver(schedule).observe(document, {subtree: true, childList: true,
                                                    characterData: true, attributes: true,
                                                    attributeFilter: ["data-test-script-state"]});
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button");
    if (button && button.textContent.trim() === "Train") log.push([Date.now(), "click", "Train"]);
  }, true);
})();
"""

PROGRESS = re.compile(r"Epoch (\d+) of (\d+)(?: · rows [^·]*)? · ([\d.]+) s elapsed.* · (\w+)$")


async def settle(page) -> None:
    """Wait until the script run the last action started has finished."""
    from playwright.async_api import expect

    await page.wait_for_timeout(300)
    await expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=120_000)


async def open_session(browser, url: str, epochs: int, batch: int) -> tuple:
    """A new context on the app: students sample loaded, Train page, the classic recipe,
    epochs and batch set."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(120_000)
    await page.add_init_script(OBSERVER)
    await page.goto(url)
    await page.get_by_role("button", name="Load this sample").click()
    await expect(page.get_by_role("heading", name="students_train.tsv")).to_be_visible(
        timeout=120_000)
    await page.get_by_role("link", name="Train", exact=True).first.click()
    await expect(page.get_by_role("button", name="Can it overfit 32 rows?")).to_be_visible(
        timeout=120_000)
    # the classic recipe: no early stopping, so a run lasts its epochs
    await page.get_by_role("combobox", name="Recipe").click()
    await page.get_by_role("option", name=CLASSIC, exact=True).click()
    await settle(page)
    for label, value in (("Epochs", epochs), ("Batch size", batch)):
        box = page.get_by_role("spinbutton", name=label, exact=True)
        await box.fill(str(value))
        await box.press("Enter")
        await settle(page)
        await expect(box).to_have_value(str(value))
    await expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    return context, page


async def main_text(page) -> str:
    """The text of the page's main area (kept when a result never showed)."""
    try:
        return await page.evaluate(
            "() => (document.querySelector('[data-testid=\"stMain\"]') || {}).innerText || ''")
    except Exception:
        return ""


async def page_end_state(page, epochs: int) -> dict:
    """Whether the page still shows its result line and its curves chart now."""
    script = ("(n) => { const m = document.querySelector('[data-testid=\"stMain\"]');"
              " if (!m) return {result: false, charts: 0};"
              " return {result: m.textContent.includes(`Finished after ${n} epochs on`),"
              " charts: m.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length}; }")
    try:
        return await page.evaluate(script, epochs)
    except Exception:
        return {"result": False, "charts": 0}


async def page_log(page) -> list:
    try:
        return await page.evaluate("() => window.__studio || []")
    except Exception:  # the page is closed or navigating
        return []


def summarize(log: list, click_py: float) -> dict:
    """One session's page figures from its observer log (times in s since the epoch)."""
    out: dict = {"click": click_py, "visible": None, "place": None, "start": None,
                 "run_s": None, "end": None, "result": None, "result_at": None,
                 "error": None, "exception": None, "states": [], "epoch_at": None,
                 "script_runs": []}
    began = None
    clicks = [t / 1000 for t, kind, _ in log if kind == "click"]
    if clicks:
        out["click"] = clicks[0]
    for t_ms, kind, text in log:
        t = t_ms / 1000
        if kind == "script":  # a script or fragment run, as the page sees it
            if text == "running":
                began = t
            elif began is not None:
                out["script_runs"].append(t - began)
                began = None
        if kind == "progress":
            m = PROGRESS.search(text)
            if not m or t < out["click"]:
                continue
            state, shown = m.group(4), float(m.group(3))
            out["visible"] = t if out["visible"] is None else min(out["visible"], t)
            if not out["states"] or out["states"][-1] != state:
                out["states"].append(state)
            if state == "running" and int(m.group(1)) > 0 and out["epoch_at"] is None:
                out["epoch_at"] = t
            if state in ("running", "stopping") and shown > 0:
                start = t - shown
                out["start"] = start if out["start"] is None else min(out["start"], start)
            elif state == "running" and out["start"] is None:
                out["start"] = t
        elif kind == "place" and out["place"] is None and t >= out["click"]:
            out["place"] = int(re.search(r"place (\d+)", text).group(1))
            out["visible"] = t if out["visible"] is None else min(out["visible"], t)
        elif kind == "result" and out["result"] is None:
            out["result"], out["result_at"] = text, t
        elif kind == "sidebar" and out["run_s"] is None:
            out["run_s"] = float(re.search(r"([\d.]+) s$", text).group(1))
        elif kind in ("error", "sidebar_end") and out["error"] is None:
            out["error"] = text
        elif kind in ("exception", "guarded") and out["exception"] is None:
            out["exception"] = text
    if out["start"] is not None and out["run_s"] is not None:
        out["end"] = out["start"] + out["run_s"]
    return out


def closing_indices(n: int, k: int) -> list[int]:
    """K sessions spread over the N (never the first: it starts on an idle server)."""
    k = max(0, min(k, n - 1))
    return sorted({min(n - 1, max(1, round((i + 1) * n / (k + 1)) - 1)) for i in range(k)})


async def drive(args, url: str, sampler: Sampler, shots: Path | None) -> dict:
    from playwright.async_api import async_playwright

    n = args.sessions
    closers = set(closing_indices(n, args.close))
    plan = [{"session": i + 1, "role": "closed" if i in closers else "kept",
             "epochs": LONG_EPOCHS - i if i in closers else args.epochs + i,
             "batch": LONG_BATCH if i in closers else args.batch} for i in range(n)]
    started = time.time()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS + STEADY)
        gate = asyncio.Semaphore(args.parallel_setup)

        async def setup(entry):
            async with gate:
                return await open_session(browser, url, entry["epochs"], entry["batch"])

        opened = await asyncio.gather(*(setup(e) for e in plan))
        setup_s = time.time() - started
        pages = [page for _, page in opened]
        click_py = [0.0] * n
        closed_at: dict[int, float] = {}

        async def finish(i: int) -> None:
            page = pages[i]
            # its result, an error, or its job ended (sidebar) RESULT_WAIT_S ago without one
            done = ("() => (window.__studio || []).some(e => e[1] === 'result' || "
                    "e[1] === 'error' || e[1] === 'exception' || e[1] === 'sidebar_end' || "
                    f"(e[1] === 'sidebar' && Date.now() - e[0] > {RESULT_WAIT_S * 1000}))")
            await page.wait_for_function(done, polling=250, timeout=0)
            if shots and i == 0:
                await page.screenshot(path=str(shots / "load-result.png"), full_page=True)

        async def close_when_running(i: int) -> None:
            page = pages[i]
            running = ("() => (window.__studio || []).some(e => e[1] === 'progress' && "
                       "/ · running$/.test(e[2]))")
            await page.wait_for_function(running, polling=100, timeout=0)
            await page.wait_for_timeout(1000)  # a second of progress: its start is read off
            if shots and i == min(closers):
                await page.screenshot(path=str(shots / "load-closing-running.png"))
            plan[i]["log"] = await page_log(page)
            closed_at[i] = time.time()
            await opened[i][0].close()

        watchers = []
        for i in range(n):
            click_py[i] = time.time()
            await pages[i].get_by_role("button", name="Train", exact=True).click()
            watchers.append(asyncio.create_task(
                close_when_running(i) if i in closers else finish(i)))
            if i < n - 1:
                await asyncio.sleep(args.stagger)
        if shots:
            await pages[-1].wait_for_timeout(1500)
            await pages[-1].screenshot(path=str(shots / "load-queued.png"))
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(*watchers),
                                   max(1.0, args.timeout - (time.time() - started)))
        except asyncio.TimeoutError:
            timed_out = True
        await asyncio.sleep(3)  # the pages settle: what they show now is what stays
        for i in range(n):
            if i not in closed_at:
                plan[i]["log"] = await page_log(pages[i])
                plan[i]["at_end"] = await page_end_state(pages[i], plan[i]["epochs"])
                if not plan[i]["at_end"]["result"]:
                    plan[i]["final_text"] = await main_text(pages[i])
                    if shots:
                        await pages[i].screenshot(
                            path=str(shots / f"load-no-result-{i + 1}.png"), full_page=True)
        all_closed = time.time()
        for i, (context, _) in enumerate(opened):
            if i not in closed_at:
                await context.close()
        await browser.close()
    for i, entry in enumerate(plan):
        entry.update(summarize(entry.get("log", []), click_py[i]))
        entry["closed"] = closed_at.get(i)
    return {"plan": plan, "setup_s": setup_s, "timed_out": timed_out,
            "all_closed": all_closed, "started": started}


# ---- figures ---------------------------------------------------------------------------
def attach_workers(plan: list[dict], job_workers: list[dict]) -> None:
    """Each session's worker: with its folder known, the worker that got a job last before
    the folder's first checkpoint; else the one whose job began nearest the page's start.
    Then the job's start = the earliest of the three moments that each come at or after
    it: the page's (time shown - elapsed shown), the worker's renice, the first checkpoint."""
    free = list(job_workers)
    for entry in sorted((e for e in plan if e.get("folder", {}).get("run")),
                        key=lambda e: e["folder"]["run"]):
        before = [w for w in free if w["job"] <= entry["folder"]["run"] + 0.05]
        if before:
            best = max(before, key=lambda w: w["job"])
            free.remove(best)
            entry["worker"] = best
    for entry in sorted((e for e in plan if e["start"] is not None and "worker" not in e),
                        key=lambda e: e["start"]):
        if not free:
            break
        best = min(free, key=lambda w: abs(w["job"] - entry["start"]))
        free.remove(best)
        entry["worker"] = best
    for entry in plan:
        bounds = [entry["start"], entry.get("worker", {}).get("job"),
                  entry.get("folder", {}).get("run")]
        bounds = [b for b in bounds if b is not None]
        entry["page_start"] = entry["start"]
        entry["start"] = min(bounds) if bounds else None
        if entry["start"] is not None and entry["run_s"] is not None:
            entry["end"] = entry["start"] + entry["run_s"]
        best = entry.get("worker")
        if best is None:
            continue
        if entry["closed"] is not None:
            entry["stopped_s"] = (best["gone"] - entry["closed"]) if best["gone"] else None
        if best["gone"] is not None and entry["end"] is not None:
            entry["exit_after_end_s"] = best["gone"] - entry["end"]


def attach_folders(plan: list[dict], folders: list[dict]) -> None:
    """Each session's folder: the one whose checkpoints hold its epoch count; else the one
    whose run-1 appeared nearest after the page's start; folders left over go to sessions
    left over, in submit (folder) and click order."""
    by_epochs = {f.get("epochs"): f for f in folders if f.get("epochs") is not None}
    for entry in plan:
        if entry["epochs"] in by_epochs:
            entry["folder"] = by_epochs.pop(entry["epochs"])
    taken = [e["folder"] for e in plan if "folder" in e]
    free = [f for f in folders if f["run"] is not None and not any(f is t for t in taken)]
    for entry in sorted((e for e in plan if e["start"] is not None and "folder" not in e),
                        key=lambda e: e["start"]):
        if not free:
            break
        best = min(free, key=lambda f: abs(f["run"] - entry["start"]))
        free.remove(best)
        entry["folder"] = best
    rest = [f for f in folders if not any(e.get("folder") is f for e in plan)]
    for entry, folder in zip(sorted((e for e in plan if "folder" not in e),
                                    key=lambda e: e["click"]), rest):
        entry["folder"] = folder


def figures(run: dict, sampler: Sampler, args) -> dict:
    plan = run["plan"]
    attach_folders(plan, sampler.folder_orders())
    attach_workers(plan, sampler.job_workers())
    t0 = min(e["click"] for e in plan)
    for e in plan:
        e["visible_s"] = e["visible"] - e["click"] if e["visible"] else None
        e["wait_s"] = e["start"] - e["click"] if e["start"] is not None else None
        e["queue_s"] = e["folder"]["made"] - e["click"] if e.get("folder") else None
        e["epoch_s"] = (e["epoch_at"] - e["start"]
                        if e["epoch_at"] is not None and e["start"] is not None else None)
        e["result_s"] = (e["result_at"] - e["end"]
                         if e["result_at"] is not None and e["end"] is not None else None)
        e["own_result"] = bool(e["result"]) and e["result"].startswith(
            f"Finished after {e['epochs']} epochs on")
        e["kept_at_end"] = bool(e.get("at_end", {}).get("result"))
        # every slot busy at the click: the page showed it queued, or an earlier job ran
        busy = [o for o in plan if o["start"] is not None and o["start"] <= e["click"]
                and (o["end"] or o.get("worker", {}).get("gone") or float("inf")) > e["click"]]
        e["slots_busy_at_click"] = len(busy) >= sampler_slots(args) or e["place"] is not None
        e["t_click"] = e["click"] - t0
    kept = [e for e in plan if e["role"] == "kept"]
    closed = [e for e in plan if e["role"] == "closed"]
    click_order = [e["session"] for e in sorted(plan, key=lambda e: e["click"])]
    placed = [e for e in plan if e.get("folder")]
    submit_order = [e["session"] for e in sorted(placed, key=lambda e: e["folder"]["made"])]
    start_order = [e["session"] for e in sorted(
        (e for e in plan if e["start"] is not None), key=lambda e: e["start"])]
    page_start_order = [e["session"] for e in sorted(
        (e for e in plan if e["page_start"] is not None), key=lambda e: e["page_start"])]
    # first in, first out: a job queued more than TIE_S before another starts before it
    # (folders made closer together than that are not told apart: mtimes, the folder is
    # made a moment before the job is queued)
    violations = [(a["session"], b["session"]) for a in placed for b in placed
                  if a["folder"]["made"] + TIE_S < b["folder"]["made"]
                  and a["start"] is not None and b["start"] is not None
                  and a["start"] > b["start"]]
    for rank, session in enumerate(submit_order, 1):
        plan[session - 1]["submitted_as"] = rank
    busy_visible = [e["visible_s"] for e in plan if e["slots_busy_at_click"]]
    busy_results = [e["result_s"] for e in kept if e["slots_busy_at_click"]]
    return {"kept": kept, "closed": closed, "start_order": start_order,
            "fifo_violations": violations, "placed": len(placed),
            "submit_order": submit_order, "click_order": click_order,
            "page_start_order": page_start_order, "busy_visible": busy_visible,
            "busy_results": busy_results,
            "finished": sum(e["own_result"] for e in kept), "submitted": len(plan)}


def sampler_slots(args) -> int:
    return args.slots or max(1, (os.cpu_count() or 2) - 1)


def stalled(sampler: Sampler, cpu: dict) -> float | None:
    """Percent of the run's wall time during which some runnable task waited for a CPU."""
    stall, wall = sampler.pressure_seconds(), cpu["machine_total"] / (os.cpu_count() or 1)
    return None if stall is None or wall <= 0 else 100 * stall / wall


def runs_text(runs: list[float]) -> str:
    """'n, median / max' of a page's busy spans: from its script state turning 'running'
    to 'notRunning' (a script or fragment run; runs back to back make one span)."""
    if not runs:
        return "–"
    ordered = sorted(runs)
    return f"{len(runs)}, {ordered[len(runs) // 2]:.2f} / {ordered[-1]:.1f}"


def fmt(value, digits: int = 2, unit: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def report(run: dict, fig: dict, left: dict, sampler: Sampler, args, machine: str) -> tuple:
    plan = run["plan"]
    lines = [f"Load: {args.sessions} sessions ({len(fig['closed'])} close their tab once "
             f"running), {sampler_slots(args)} training slot(s), lease {args.lease or 30:g} s; "
             f"{machine}", "",
             "| session | role | epochs × batch | click at s | queued as | click → queued s | "
             "click → job shown s | first place | wait s | start → epoch ≥ 1 shown s | "
             "run s | end → result shown s | end → worker gone s | result | close → worker "
             "gone s | page busy: spans, median / max s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in plan:
        result = ("own" if e["own_result"] else (e["result"] or e["error"] or e["exception"]
                                                  or ("–" if e["role"] == "closed"
                                                      else "none")))
        lines.append(
            f"| {e['session']} | {e['role']} | {e['epochs']} × {e['batch']} | "
            f"{e['t_click']:.1f} | {e.get('submitted_as') or '–'} | {fmt(e['queue_s'])} | "
            f"{fmt(e['visible_s'])} | "
            f"{e['place'] or '–'} | "
            f"{fmt(e['wait_s'], 1)} | {fmt(e['epoch_s'], 1)} | {fmt(e['run_s'], 1)} | "
            f"{fmt(e['result_s'])} | {fmt(e.get('exit_after_end_s'), 1)} | {result} | "
            f"{fmt(e.get('stopped_s'), 1)} | {runs_text(e['script_runs'])} |")
    worst_visible = max((v for v in fig["busy_visible"] if v is not None), default=None)
    worst_result = max((v for v in fig["busy_results"] if v is not None), default=None)
    missing_visible = sum(v is None for v in fig["busy_visible"])
    missing_result = sum(v is None for v in fig["busy_results"])
    stops = [e.get("stopped_s") for e in fig["closed"]]
    gone = [e["session"] for e in fig["kept"] if e["own_result"] and not e["kept_at_end"]]
    still = sum(e["own_result"] and e["kept_at_end"] for e in fig["kept"])
    targets = [
        ("every kept session finishes with its own result",
         f"{fig['finished']} of {len(fig['kept'])} kept showed it ({fig['submitted']} "
         f"submitted); {still} still show it at the end",
         fig["finished"] == len(fig["kept"]) and not gone),
        ("start order = submit order",
         f"queued {fig['submit_order']}, started {fig['start_order']}: "
         f"{len(fig['fifo_violations'])} pairs out of order"
         + (f" {fig['fifo_violations']}" if fig["fifo_violations"] else "")
         + f" (clicked {fig['click_order']})",
         not fig["fifo_violations"] and fig["placed"] == len(plan)
         and len(fig["start_order"]) == len(plan)),
        ("closed sessions' jobs stop within 45 s",
         ", ".join(fmt(s, 1, " s") for s in stops) or "none closed",
         all(s is not None and s <= 45 for s in stops)),
        ("click shown within 1 s, all slots busy",
         f"worst {fmt(worst_visible)} s over {len(fig['busy_visible'])} clicks"
         + (f", {missing_visible} never shown" if missing_visible else ""),
         bool(fig["busy_visible"]) and not missing_visible and worst_visible <= 1.0),
        ("result shown within 2 s of the job's end, all slots busy",
         f"worst {fmt(worst_result)} s over {len(fig['busy_results'])} results"
         + (f", {missing_result} never shown" if missing_result else ""),
         bool(fig["busy_results"]) and not missing_result and worst_result <= 2.0),
        ("nothing left behind",
         f"{len(left['processes'])} processes, {len(left['job_roots'])} studio-jobs-* "
         f"folders, {len(left['session_folders'])} session folders after all tabs closed",
         not left["processes"] and not left["job_roots"] and not left["session_folders"]),
    ]
    lines += ["", f"kept sessions whose result line showed and is gone from the page at the "
              f"end (3 s after the last one): {gone or 'none'}; curves charts on those pages "
              f"at the end: {[e.get('at_end', {}).get('charts') for e in fig['kept']]}"]
    lines += ["", "| target | measured | met? |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {'yes' if ok else '**no**'} |"
              for name, measured, ok in targets]
    lines += ["", f"setup of {args.sessions} sessions {run['setup_s']:.1f} s; total "
              f"{left['total_s']:.1f} s; peak resident: server {sampler.peak_server / 2**20:.0f}"
              f" MB (VmHWM {fmt(left['server_hwm'] and left['server_hwm'] / 2**20, 0)} MB), "
              f"server + children {sampler.peak_total / 2**20:.0f} MB "
              f"({sampler.rss_samples} samples); server stop: {left['server_stop']}; "
              f"session folders gone {fmt(left['folders_gone_s'], 1)} s after the last tab "
              f"closed; server log: {left['tracebacks']} tracebacks"
              + ("; TIMED OUT" if run["timed_out"] else "")]
    every = sorted(r for e in plan for r in e["script_runs"])
    if every:
        lines.append(f"page busy spans (data-test-script-state 'running' until "
                     f"'notRunning'; back-to-back script and fragment runs make one span), "
                     f"all sessions: {len(every)}, median "
                     f"{every[len(every) // 2]:.2f} s, 90th percentile "
                     f"{every[int(len(every) * 0.9)]:.2f} s, max {every[-1]:.1f} s")
    cpu = sampler.cpu_seconds()
    lines.append(f"CPU seconds over the run: machine {cpu['machine_busy']:.0f} busy of "
                 f"{cpu['machine_total']:.0f}; server {cpu['server']:.0f}, workers "
                 f"{cpu['workers']:.0f}, Chromium {cpu['browser']:.0f}, other processes on "
                 f"the machine {cpu['others']:.0f}; load average {os.getloadavg()[0]:.2f} "
                 "at the end"
                 + (f"; some task waited for a CPU {share:.0f}% of the time "
                    "(/proc/pressure/cpu)" if (share := stalled(sampler, cpu)) is not None
                    else ""))
    if left["processes"]:
        lines.append("left processes: " + "; ".join(f"{p} {c[:80]}" for p, c in
                                                     left["processes"]))
    if left["other_temp"]:
        lines.append("other entries left in the server's TMPDIR: "
                     + ", ".join(left["other_temp"]))
    return "\n".join(lines), targets


def machine_text() -> str:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in
                     Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f} at start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=8, help="browser sessions (8)")
    parser.add_argument("--close", type=int, default=2,
                        help="of them, how many close their tab once their job runs (2)")
    parser.add_argument("--epochs", type=int, default=400,
                        help="epochs of a kept session's run; session i adds i, so each "
                             "result is its own (400)")
    parser.add_argument("--batch", type=int, default=1, help="batch size of kept runs (1)")
    parser.add_argument("--stagger", type=float, default=0.5,
                        help="seconds between the sessions' Train clicks (0.5)")
    parser.add_argument("--timeout", type=float, default=480.0,
                        help="seconds for setup + every session's end (480)")
    parser.add_argument("--slots", type=int, help="STUDIO_MAX_JOBS (default: the app's, "
                                                  "cores - 1)")
    parser.add_argument("--lease", type=float, help="STUDIO_LEASE_S (default: the app's, 30)")
    parser.add_argument("--parallel-setup", type=int, default=4,
                        help="sessions set up at once (4)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--shots", type=Path, help="save a few screenshots in this folder")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} is missing (apt-get install chromium)")
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)

    machine = machine_text()
    tag = secrets.token_hex(6)
    os.environ[TAG] = tag            # the server, its workers and chromium inherit it
    tmpdir = Path(tempfile.mkdtemp(prefix="studio-load-"))
    env = {"TMPDIR": str(tmpdir)}
    if args.slots:
        env["STUDIO_MAX_JOBS"] = str(args.slots)
    if args.lease:
        env["STUDIO_LEASE_S"] = f"{args.lease:g}"
    log = tmpdir / "streamlit.log"
    began = time.time()
    server, url = start_server(env, log)
    sampler = Sampler(server.pid, tmpdir)
    sampler.start()
    try:
        run = asyncio.run(drive(args, url, sampler, args.shots))
        # every tab is closed: the leases run out, the folders must go
        gone_s = None
        deadline = time.time() + (args.lease or 30) + 20
        while time.time() < deadline:
            if jobs_root(tmpdir) is not None and not session_folders(tmpdir):
                gone_s = time.time() - run["all_closed"]
                break
            time.sleep(0.5)
        folders = [p.name for p in session_folders(tmpdir)]
        hwm = vm_hwm(server.pid)
    finally:
        stop = stop_server(server)
        time.sleep(1.0)
        sampler.halt.set()
        sampler.join(2)
    text = log.read_text(errors="replace")
    left = {"processes": tagged(tag, {os.getpid()}),
            "job_roots": [p.name for p in tmpdir.glob("studio-jobs-*")],
            "session_folders": folders, "folders_gone_s": gone_s, "server_hwm": hwm,
            "server_stop": stop, "tracebacks": text.count("Traceback"),
            "other_temp": sorted(p.name for p in tmpdir.iterdir() if p.name != log.name
                                 and not p.name.startswith("studio-jobs-")),
            "total_s": time.time() - began}
    fig = figures(run, sampler, args)
    table, targets = report(run, fig, left, sampler, args, machine)
    print(table)
    if left["tracebacks"]:
        print("\nserver log tracebacks:\n" + text[text.index("Traceback"):][:3000])
    if args.json:
        args.json.write_text(json.dumps({
            "settings": vars(args) | {"json": str(args.json), "shots": str(args.shots)},
            "machine": machine, "sessions": run["plan"], "workers": sampler.job_workers(),
            "start_order": fig["start_order"], "submit_order": fig["submit_order"],
            "click_order": fig["click_order"], "page_start_order": fig["page_start_order"],
            "folders": sampler.folder_orders(),
            "peak_rss_server": sampler.peak_server, "peak_rss_total": sampler.peak_total,
            "cpu_seconds": sampler.cpu_seconds(),
            "left": left, "setup_s": run["setup_s"], "timed_out": run["timed_out"],
            "targets": [{"target": n, "measured": m, "met": ok} for n, m, ok in targets]},
            indent=2, default=str))
    shutil.rmtree(tmpdir, ignore_errors=True)
    return 0 if all(ok for _, _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
