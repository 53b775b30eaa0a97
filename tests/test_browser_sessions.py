"""Browser sessions and the server's job service, end to end: `streamlit run app.py` driven by
Debian's Chromium through Playwright (as tests/test_browser.py).

- A tab that closes while its job trains loses it: once the session's lease runs out
  (STUDIO_LEASE_S=20 here) the job's worker process is gone and the session's folder under
  the job manager's root is removed, within 45 s. The lease must stay above the 10 s an
  idle page waits between heartbeats (ui/sidebar.py): with 4 s, an open tab whose job has
  finished loses that job (its result, the sidebar's job line, its checkpoints) seconds
  later, and the second test below failed that way.
- Two tabs at once on one training slot: the second one's job waits, its page says at which
  place, and each page ends with its own result (their epoch counts differ).

The server gets its own TMPDIR, so the manager's `studio-jobs-*` root is the only one there.
A job's worker is told apart from the warm spare by its niceness: a worker renices itself to
the job's limit (10) when it receives a job; the spare waits at 0. Screenshots go to
test-artifacts/sessions-*.png.
"""
from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

from bench.load_probes import alive, session_folders, start_server, stop_server, workers
from browser_kit import ARTIFACTS, CHROMIUM, FLAGS, choose, settle  # skips without chromium
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from ui.train_form import RECIPE_TEXT

VIEWPORT = {"width": 1400, "height": 1600}
LEASE_S = 20  # the shortest lease the app takes: twice the 10 s idle heartbeat

expect.set_options(timeout=60_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sessions")
    proc, url = start_server({"TMPDIR": str(tmp), "STUDIO_LEASE_S": str(LEASE_S),
                              "STUDIO_MAX_JOBS": "1"}, tmp / "streamlit.log")
    yield SimpleNamespace(url=url, pid=proc.pid, tmp=tmp, log=tmp / "streamlit.log")
    stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def ready_to_train(browser, url: str, epochs: int, batch: int = 1):
    """A new tab (its own browser session): students sample loaded, Train page, settings."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("button", name="Load this sample").click()
    expect(page.get_by_role("heading", name="students_train.tsv")).to_be_visible()
    page.get_by_role("link", name="Train", exact=True).first.click()
    expect(page.get_by_role("button", name="Can it overfit 32 rows?")).to_be_visible()
    choose(page, "Recipe", RECIPE_TEXT["classic"])  # no early stop: a run lasts its epochs
    settle(page)
    expect(page.get_by_role("textbox", name="Hidden layers")).to_have_value("10,10")
    expect(page.get_by_text("6-(10-10)-3")).to_be_visible()  # the recipe filled the form
    for label, value in (("Epochs", epochs), ("Batch size", batch)):
        box = page.get_by_role("spinbutton", name=label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        settle(page)
        expect(box).to_have_value(str(value))
    return context, page


def wait_for(condition, timeout: float, every: float = 0.25):
    """Poll `condition` until it returns something truthy; that value, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    return None


def no_traceback(page: Page) -> None:
    expect(page.get_by_text("Traceback")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_closed_tab_loses_its_running_job_and_its_folder(server, browser):
    context, page = ready_to_train(browser, server.url, epochs=10000)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Epoch \d+ of 10000 · .* · running$"))).to_be_visible()
    # one part of a page follows the job: on Train the page, not the sidebar
    expect(page.get_by_test_id("stSidebar").get_by_text(
        "its progress is on this page")).to_be_visible()

    busy = wait_for(lambda: [pid for pid, w in workers(server.pid).items() if w["busy"]], 30)
    assert busy and len(busy) == 1, workers(server.pid)
    pid = busy[0]
    cpu = workers(server.pid)[pid]["cpu_s"]
    assert wait_for(lambda: workers(server.pid).get(pid, {}).get("cpu_s", 0) > cpu + 0.2, 15), \
        "the job's worker is not training"
    folders = session_folders(server.tmp)
    assert len(folders) == 1, folders
    folder = folders[0]
    assert (folder / "run-1").is_dir()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "sessions-1-running.png"))

    context.close()
    closed = time.monotonic()
    assert wait_for(lambda: not alive(pid) and not folder.exists(), 45, 0.1), (
        f"45 s after the tab closed: worker {pid} alive={alive(pid)}, "
        f"folder exists={folder.exists()}")
    took = time.monotonic() - closed
    print(f"closed tab: worker gone and folder removed {took:.1f} s after the close "
          f"(lease {LEASE_S} s)")
    spares = [w for w in workers(server.pid).values() if not w["busy"]]
    assert len(spares) == 1, workers(server.pid)  # the warm spare stays for the next job


def test_two_tabs_train_at_once_and_each_gets_its_own_result(server, browser):
    first_ctx, first = ready_to_train(browser, server.url, epochs=600)
    second_ctx, second = ready_to_train(browser, server.url, epochs=200)
    try:
        first.get_by_role("button", name="Train", exact=True).click()
        expect(first.get_by_text(re.compile(r"^Epoch \d+ of 600 · .* · running$"))
               ).to_be_visible()
        second.get_by_role("button", name="Train", exact=True).click()
        expect(second.get_by_text("Waiting for a free training slot (place 1 in the queue)")
               ).to_be_visible(timeout=10_000)
        expect(second.get_by_test_id("stSidebar").get_by_text(
            "its progress is on this page")).to_be_visible()
        second.screenshot(path=str(ARTIFACTS / "sessions-2-waiting.png"))

        expect(first.get_by_text("Finished after 600 epochs on")).to_be_visible(
            timeout=120_000)
        expect(second.get_by_text("Finished after 200 epochs on")).to_be_visible(
            timeout=120_000)
        expect(second.get_by_text("Waiting for a free training slot")).to_have_count(0)
        expect(first.get_by_text("Finished after 200 epochs")).to_have_count(0)
        expect(second.get_by_text("Finished after 600 epochs")).to_have_count(0)
        for page in (first, second):
            expect(page.get_by_test_id("stSidebar").get_by_text(
                re.compile(r"finished after \d+ epochs"))).to_be_visible()
            no_traceback(page)
        settle(second)
        second.screenshot(path=str(ARTIFACTS / "sessions-3-second-finished.png"))
    finally:
        for name, page in (("first", first), ("second", second)):
            page.screenshot(path=str(ARTIFACTS / f"sessions-last-{name}.png"), full_page=True)
        first_ctx.close()
        second_ctx.close()
    assert "Traceback" not in server.log.read_text(errors="replace")
