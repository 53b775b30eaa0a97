"""`python -m mlcore runs ...`: the run store from the command line (list, show, compare,
share, revoke, export, pin, delete, gc), and recording a `train --store URL` run. Without
--workspace the CLI uses the store's workspace named "cli", created on first use."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .bundle import CARD, save_bundle
from .errors import StoreError
from .model_card import model_card
from .store import Store
from .store_engine import default_url, shown_url
from .store_runs import RunRow
from .table import Table
from .workflow import Run

CLI_WORKSPACE = "cli"
DEFAULT_BASE_URL = "http://localhost:8501"


def add_store_options(parser: argparse.ArgumentParser, recording: bool = False) -> None:
    """--store URL and --workspace TOKEN. `recording` (train): nothing is recorded without
    --store; elsewhere the store defaults to STUDIO_STORE, else studio.db."""
    parser.add_argument("--store", metavar="URL", help=(
        "record the run in this store, e.g. sqlite:///studio.db or "
        "postgresql+psycopg://user@host/db" if recording else
        "the run store (default: STUDIO_STORE, else studio.db beside the code)"))
    parser.add_argument("--workspace", metavar="TOKEN",
                        help="a workspace token (default: the store's 'cli' workspace)")


def add_runs_commands(subparsers) -> None:
    """The `runs` command and its subcommands, on the CLI's subparsers."""
    runs = subparsers.add_parser("runs", help="the run store: list, show, compare, share, "
                                              "revoke, export, pin, delete, gc")
    sub = runs.add_subparsers(dest="runs_command", required=True)
    parsers = {name: sub.add_parser(name, help=text) for name, text in (
        ("list", "the workspace's runs, newest first"),
        ("show", "one run: data, settings, metrics, confusion matrix, share links"),
        ("compare", "runs side by side: accuracy, per-class metrics, settings"),
        ("share", "a read-only link to a run (prints the token and the link)"),
        ("revoke", "revoke a share link"),
        ("export", "write a run's bundle (and its model card) to a folder"),
        ("pin", "pin a run so gc keeps it (--unpin to undo)"),
        ("delete", "delete runs with their bundles and share links"),
        ("gc", "delete unpinned runs older than DAYS, and datasets no run uses"))}
    for name in ("show", "share", "export", "pin"):
        parsers[name].add_argument("id", type=int)
    parsers["compare"].add_argument("ids", type=int, nargs="+", metavar="ID")
    parsers["delete"].add_argument("ids", type=int, nargs="+", metavar="ID")
    parsers["share"].add_argument("--expires-days", type=float, metavar="N")
    parsers["share"].add_argument("--base-url", help="the app's address (default: "
                                  f"STUDIO_BASE_URL, else {DEFAULT_BASE_URL})")
    parsers["revoke"].add_argument("token")
    parsers["export"].add_argument("--out", required=True, metavar="DIR")
    parsers["pin"].add_argument("--unpin", action="store_true")
    parsers["gc"].add_argument("--older-than", type=float, required=True, metavar="DAYS")
    parsers["gc"].add_argument("--all-workspaces", action="store_true",
                               help="every workspace of the store, not only this one")
    for parser in parsers.values():
        add_store_options(parser)
        parser.add_argument("--json", action="store_true")


def open_workspace(args: argparse.Namespace) -> tuple[Store, str]:
    """The store --store names and the workspace --workspace names (default: "cli")."""
    store = Store(args.store or default_url())
    if not args.workspace:
        return store, store.named_workspace(CLI_WORKSPACE)
    if not store.workspace_exists(args.workspace):
        store.close()
        raise StoreError(f"{shown_url(store.url)} has no workspace {args.workspace[:12]!r}"
                         "... (check --workspace).")
    return store, args.workspace


def record_cli_run(args: argparse.Namespace, run: Run, table: Table,
                   timings: dict[str, float]) -> int:
    """Record a finished `train --store URL` run: the training file's bytes as its
    dataset, the bundle and the timings (then a search's other kept trials, run.trials, as
    runs of their own); returns the run id."""
    store, workspace = open_workspace(args)
    with store:
        digest = store.put_dataset(workspace, table.name, Path(args.train_file).read_bytes())
        run_id = store.record_run(workspace, run.bundle, dataset_hash=digest,
                                  data_name=table.name, timings=timings)
        for bundle in run.trials:
            store.record_run(workspace, bundle, dataset_hash=digest, data_name=table.name)
        return run_id


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _seconds(row: RunRow) -> str:
    return "-" if row.train_seconds is None else f"{row.train_seconds:.2f} s"


def _summary(row: RunRow) -> dict:
    """A run's listing fields as JSON."""
    t = row.train_config
    return {"id": row.id, "created": row.created.isoformat(timespec="seconds"),
            "data": row.data_name, "label": row.label, "classes": row.class_names,
            "network": row.architecture, "activation": row.model_config.get("activation"),
            "optimizer": t.get("optimizer"), "lr": t.get("lr"),
            "batch_size": t.get("batch_size"), "epochs": row.epochs, "seed": row.seed,
            "status": row.status, "test_accuracy": row.test_accuracy,
            "train_accuracy": row.train_accuracy, "train_seconds": row.train_seconds,
            "pinned": row.pinned, "parent": row.parent, "bundle_bytes": row.bundle_size}


def _list(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    rows = store.list_runs(workspace)
    say(f"{len(rows)} run{'s' if len(rows) != 1 else ''} in {shown_url(store.url)}")
    if rows:
        say(f"{'id':>5}  {'created':<19}  {'data':<24} {'label':<12} {'network':<14} "
            f"{'optimizer':<9} {'epochs':>6} {'test acc':>8} {'time':>9}  status")
    for r in rows:
        say(f"{r.id:>5}  {r.created:%Y-%m-%d %H:%M:%S}  {r.data_name[:24]:<24} "
            f"{r.label[:12]:<12} {r.architecture[:14]:<14} "
            f"{r.train_config.get('optimizer', ''):<9} {r.epochs:>6} "
            f"{_percent(r.test_accuracy):>8} {_seconds(r):>9}  {r.status}"
            + ("  pinned" if r.pinned else ""))
    return {"runs": [_summary(r) for r in rows]}


def _show(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    row = store.get_run(workspace, args.id)
    links = store.shares(workspace, args.id)
    now = store.clock()
    say(f"Run {row.id}: {row.label} from {row.data_name}, {row.created:%Y-%m-%d %H:%M:%S}, "
        f"{row.status}" + (", pinned" if row.pinned else "")
        + (f", continues run {row.parent}" if row.parent else ""))
    say(f"  network {row.architecture} {row.model_config.get('activation')}; "
        + ", ".join(f"{k} {v}" for k, v in row.train_config.items()))
    say("  timings: " + ", ".join(f"{k} {v:.2f}" for k, v in row.timings.items()))
    for part in ("train", "validation", "test"):
        report = (row.metrics or {}).get(part)
        if report:
            say(f"  {part}: {report['n_correct']} of {report['n']} correct, "
                f"{report['accuracy']:.2%}")
    test = (row.metrics or {}).get("test") or {}
    for c in test.get("per_class", []):
        say(f"    {c['name']:>12}: precision {c['precision']:.3f}  recall {c['recall']:.3f}"
            f"  F1 {c['f1']:.3f}  ({c['support']} rows)")
    if row.confusion:
        say("  confusion matrix (rows: actual, columns: predicted):")
        width = max(len(n) for n in row.class_names) + 2
        say(" " * (width + 2) + "".join(f"{n[:width - 1]:>{width}}" for n in row.class_names))
        for name, line in zip(row.class_names, row.confusion):
            say(f"  {name[:width - 1]:>{width}}" + "".join(f"{n:>{width}}" for n in line))
    for link in links:
        say(f"  share {link.token}: " + ("active" if link.active(now) else "not active")
            + (f", expires {link.expires:%Y-%m-%d %H:%M}" if link.expires else ""))
    return {**_summary(row), "metrics": row.metrics, "confusion": row.confusion,
            "model_config": row.model_config, "train_config": row.train_config,
            "timings": row.timings,
            "shares": [{"token": s.token, "active": s.active(now),
                        "expires": s.expires.isoformat() if s.expires else None}
                       for s in links]}


def _compare(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    rows = [store.get_run(workspace, i) for i in args.ids]
    summaries = [_summary(r) for r in rows]
    width = max(12, *(len(r.data_name[:20]) for r in rows))
    say(f"{'':<22}" + "".join(f"{'run ' + str(r.id):>{width + 2}}" for r in rows))
    for key in ("data", "label", "network", "activation", "optimizer", "lr", "batch_size",
                "epochs", "seed", "status", "train_accuracy", "test_accuracy",
                "train_seconds"):
        cells = [s[key] for s in summaries]
        shown = [_percent(c) if key.endswith("accuracy") else
                 "-" if c is None else f"{c:.2f}" if isinstance(c, float) else str(c)[:20]
                 for c in cells]
        say(f"{key:<22}" + "".join(f"{c:>{width + 2}}" for c in shown))
    per_class = _per_class(rows)
    for name, values in per_class.items():
        say(f"F1 {name[:19]:<19}" + "".join(
            f"{'-' if v is None else format(v['f1'], '.3f'):>{width + 2}}" for v in values))
    return {"runs": summaries, "per_class": per_class}


def _per_class(rows: list[RunRow]) -> dict[str, list[dict | None]]:
    """Each class (in first-seen order) -> its test metrics in every run (None if absent)."""
    tables = [{c["name"]: c for c in ((r.metrics or {}).get("test") or {})
               .get("per_class", [])} for r in rows]
    names = list(dict.fromkeys(name for table in tables for name in table))
    return {name: [table.get(name) for table in tables] for name in names}


def _share(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    token = store.share(workspace, args.id, args.expires_days)
    base = (args.base_url or os.environ.get("STUDIO_BASE_URL") or DEFAULT_BASE_URL)
    link = f"{base.rstrip('/')}/?model={token}"
    say(f"Shared run {args.id}" + (f" for {args.expires_days:g} days" if args.expires_days
                                   else "") + f": token {token}")
    say(f"  {link}")
    return {"id": args.id, "token": token, "link": link, "expires_days": args.expires_days}


def _revoke(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    store.revoke(workspace, args.token)
    say(f"Revoked the share link {args.token}")
    return {"token": args.token, "revoked": True}


def _export(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    row = store.get_run(workspace, args.id)
    bundle = store.run_bundle(workspace, args.id)
    out = save_bundle(bundle, args.out)
    (out / CARD).write_text(model_card(bundle, row.data_name))
    say(f"Wrote run {args.id} to {out}/ (model.pt, bundle.json, {CARD})")
    return {"id": args.id, "out": str(out)}


def _pin(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    store.pin_run(workspace, args.id, not args.unpin)
    say(f"{'Unpinned' if args.unpin else 'Pinned'} run {args.id}")
    return {"id": args.id, "pinned": not args.unpin}


def _delete(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    for run_id in args.ids:
        store.delete_run(workspace, run_id)
        say(f"Deleted run {run_id}")
    return {"deleted": args.ids}


def _gc(store: Store, workspace: str, args: argparse.Namespace, say) -> dict:
    removed = store.gc(args.older_than, None if args.all_workspaces else workspace)
    say(f"Removed {removed.runs} unpinned run(s) older than {args.older_than:g} days and "
        f"{removed.datasets} dataset(s) no run uses")
    return {"runs": removed.runs, "datasets": removed.datasets}


SUBCOMMANDS = {"list": _list, "show": _show, "compare": _compare, "share": _share,
               "revoke": _revoke, "export": _export, "pin": _pin, "delete": _delete,
               "gc": _gc}


def cmd_runs(args: argparse.Namespace, say) -> dict:
    """Run one `runs` subcommand on the store and workspace the arguments name."""
    store, workspace = open_workspace(args)
    with store:
        return SUBCOMMANDS[args.runs_command](store, workspace, args, say)
