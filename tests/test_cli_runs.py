"""The `runs` commands end to end on a store file (and on the test PostgreSQL): two runs
trained and recorded as `train --store URL` records them, then list, show, compare, share,
revoke, export, pin and gc, each also as the JSON `--json` prints."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from sqlalchemy import func, select

import pg_server
from conftest import DATA
from mlcore.bundle import CARD, load_bundle
from mlcore.cli import build_parser
from mlcore.cli_reading import read_and_infer
from mlcore.cli_runs import add_runs_commands, cmd_runs, record_cli_run
from mlcore.errors import ShareError, StoreError
from mlcore.model import ModelConfig
from mlcore.store import Store
from mlcore.store_schema import datasets
from mlcore.table import read_table
from mlcore.training import TrainConfig
from mlcore.workflow import fit, prepare

TRAIN, TEST = DATA / "students_train.tsv", DATA / "students_test.tsv"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return pg_server.server(request).database()


def _train(store_url: str, *flags: str) -> int:
    """What `mlcore train TRAIN --test TEST FLAGS --store URL` does: read, encode, fit,
    then record_cli_run."""
    args = build_parser().parse_args(["train", str(TRAIN), "--test", str(TEST), "--out",
                                      "unused", *flags])
    args.store, args.workspace = store_url, None  # the --store and --workspace options
    table, schema = read_and_infer(args, args.train_file)
    test = read_table(TEST, names=list(table.frame.columns)).frame
    prepared = prepare(table.frame, schema, test, source=table.name)
    run = fit(prepared, ModelConfig(hidden=args.hidden),
              TrainConfig(args.optimizer, args.lr, batch_size=args.batch_size,
                          epochs=args.epochs, device="cpu"))
    return record_cli_run(args, run, table, {"read_seconds": 0.1, "prepare_seconds": 0.1})


def _runs(*argv: str) -> tuple[dict, list[str]]:
    """Run `mlcore runs ARGV`; its result (what --json prints) and the lines it said."""
    parser = argparse.ArgumentParser()
    add_runs_commands(parser.add_subparsers(dest="command", required=True))
    lines: list[str] = []
    result = cmd_runs(parser.parse_args(["runs", *argv]), lines.append)
    json.dumps(result)  # --json prints it: it must be plain JSON
    return result, lines


def test_runs_commands_end_to_end(store_url, tmp_path, monkeypatch):
    first = _train(store_url, "--epochs", "5", "--hidden", "10,10")
    second = _train(store_url, "--epochs", "8", "--hidden", "6", "--optimizer", "sgd")
    store = ["--store", store_url]

    listed, lines = _runs("list", *store, "--json")
    assert [r["id"] for r in listed["runs"]] == [second, first]
    assert listed["runs"][0]["network"] == "6-(6)-3" and listed["runs"][0]["epochs"] == 8
    assert listed["runs"][1]["optimizer"] == "adam" and lines[0].startswith("2 runs in ")
    assert any(line.lstrip().startswith(f"{first} ") and "students_train.tsv" in line
               for line in lines)

    shown, lines = _runs("show", str(first), *store)
    assert lines[0].startswith(f"Run {first}: col4 from students_train.tsv")
    assert shown["timings"]["read_seconds"] == 0.1 and shown["metrics"]["test"]["n"] == 40
    assert any("geology: precision" in line for line in lines)

    compared, lines = _runs("compare", str(first), str(second), *store)
    assert [r["id"] for r in compared["runs"]] == [first, second]
    assert list(compared["per_class"]) == ["finance", "geology", "history"]
    assert any(line.startswith("test_accuracy") for line in lines)
    assert any(line.startswith("optimizer") and "adam" in line and "sgd" in line
               for line in lines)

    monkeypatch.setenv("STUDIO_BASE_URL", "https://studio.example")
    shared, lines = _runs("share", str(first), *store, "--expires-days", "2")
    assert shared["link"] == f"https://studio.example/?model={shared['token']}"
    assert shared["link"] in lines[1]
    other, _ = _runs("share", str(first), *store, "--base-url", "http://host:8501/")
    assert other["link"] == f"http://host:8501/?model={other['token']}"
    with Store(store_url) as opened:
        assert opened.shared(shared["token"])[0].id == first
        _runs("revoke", shared["token"], *store)
        with pytest.raises(ShareError):
            opened.shared(shared["token"])
        assert opened.shared(other["token"])[0].id == first
        with opened.engine.connect() as connection:  # one training file, stored once
            assert connection.execute(select(func.count()).select_from(datasets)).scalar() == 1

    exported, _ = _runs("export", str(second), *store, "--out", str(tmp_path / "exported"))
    bundle = load_bundle(exported["out"])
    assert bundle.architecture == "6-(6)-3" and (tmp_path / "exported" / CARD).is_file()
    assert "from students_train.tsv" in (tmp_path / "exported" / CARD).read_text()
    with Store(store_url) as opened:
        workspace = opened.named_workspace("cli")
        original = opened.run_bundle(workspace, second).state_dict
    assert all(torch.equal(bundle.state_dict[k], v) for k, v in original.items())

    _runs("pin", str(first), *store)
    removed, lines = _runs("gc", "--older-than", "0", *store)
    assert removed == {"runs": 1, "datasets": 0} and lines[0].startswith("Removed 1 ")
    assert [r["id"] for r in _runs("list", *store)[0]["runs"]] == [first]


def test_runs_commands_refuse_in_one_line(store_url):
    store = ["--store", store_url]
    with pytest.raises(StoreError, match="^There is no run 999 in this workspace.$"):
        _runs("show", "999", *store)
    with pytest.raises(StoreError, match=r"has no workspace 'not-a-token'\.\.\. \(check "):
        _runs("list", *store, "--workspace", "not-a-token")
    with Store(store_url) as opened:
        elsewhere = opened.create_workspace()
    assert _runs("list", *store, "--workspace", elsewhere)[0] == {"runs": []}
    with pytest.raises(StoreError, match="no share link with that token"):
        _runs("revoke", "some-token", *store)


def test_train_store_then_runs_list_through_the_real_cli(tmp_path):
    """`python -m mlcore train ... --store URL` records the run; `runs list` sees it."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    root = DATA.parent

    def cli(*argv: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "mlcore", *argv, "--json"], cwd=root,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    trained = cli("train", str(TRAIN), "--test", str(TEST), "--epochs", "3", "--out",
                  str(tmp_path / "model"), "--store", url)
    listed = cli("runs", "list", "--store", url)
    assert [r["id"] for r in listed["runs"]] == [trained["run_id"]]
    assert listed["runs"][0]["epochs"] == 3
