"""The command line end to end: `python -m mlcore` in a subprocess on every sample.

Each CLI run pays the interpreter + torch start-up, so the runs are started together once
per module in a small pool of processes and the tests read their results.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from conftest import DATA, ROOT

TRAIN_KEYS = {"train_accuracy", "test_accuracy", "per_class", "confusion_matrix", "class_names",
              "epochs_run", "device", "train_seconds"}


@dataclass
class Sample:
    train: str
    split: list[str]     # --test FILE or --test-fraction F
    check: str           # a labelled file to evaluate and predict on
    classes: list[str]
    n_features: int


SAMPLES = {
    "students": Sample("students_train.tsv", ["--test", str(DATA / "students_test.tsv")],
                       "students_test.tsv", ["finance", "geology", "history"], 4),
    "people": Sample("people_train.tsv", ["--test", str(DATA / "people_test.tsv")],
                     "people_test.tsv", ["F", "M"], 4),
    "employees": Sample("employees_train.tsv", ["--test", str(DATA / "employees_test.tsv")],
                        "employees_test.tsv", ["mgmt", "supp", "tech"], 4),
    "blobs": Sample("blobs.tsv", ["--test-fraction", "0.2"], "blobs.tsv",
                    ["A", "B", "C", "D"], 2),
    "digits": Sample("digits.tsv", ["--test-fraction", "0.2"], "digits.tsv",
                     [str(d) for d in range(10)], 64),
}


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        assert self.returncode == 0, f"{self.args}\n{self.stderr}"
        return json.loads(self.stdout.strip().splitlines()[-1])


def cli(*args: str | Path) -> Result:
    command = [sys.executable, "-m", "mlcore", *map(str, args)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return Result(command[3:], done.returncode, done.stdout, done.stderr)


def _first_rows(name: str, count: int) -> list[list[str]]:
    lines = [line for line in (DATA / name).read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return [line.split("\t") for line in lines[:count]]


def _pipeline(name: str, sample: Sample, out: Path) -> dict[str, Result]:
    """train -> evaluate -> predict --row -> predict --input -> export, one after another."""
    bundle = out / name
    extra = (["--epochs", "20", "--checkpoint-every", "10", "--hidden", "10,10",
              "--optimizer", "sgd", "--lr", "0.01", "--batch-size", "10"]
             if name == "students" else ["--epochs", "4"])
    runs = {"train": cli("train", DATA / sample.train, *sample.split, *extra, "--out", bundle,
                         "--json")}
    if runs["train"].returncode:
        return runs
    features_only, every_column = _first_rows(sample.check, 2)
    runs["evaluate"] = cli("evaluate", bundle, DATA / sample.check, "--json")
    runs["predict_row"] = cli("predict", bundle, "--row", ",".join(features_only[:-1]),
                              "--row", ",".join(every_column), "--json")
    runs["predict_input"] = cli("predict", bundle, "--input", DATA / sample.check, "--json")
    runs["export"] = cli("export", bundle, "--onnx", out / f"{name}.onnx", "--json")
    if name == "students":  # the resume story: epochs 11 to 20 from the epoch-10 checkpoint
        runs["resume"] = cli("train", DATA / sample.train, *sample.split, *extra,
                             "--resume", bundle / "checkpoints" / "epoch-00010.pt",
                             "--out", out / "resumed", "--json")
    return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Future]:
    out = tmp_path_factory.mktemp("cli")
    header = out / "students_header.csv"
    header.write_text("sex,units,state,score,major\n" + "".join(
        ",".join(row) + "\n" for row in _first_rows("students_train.tsv", 200)))
    ragged = out / "ragged.tsv"
    ragged.write_text("M\t20.5\tmaryland\t584\tfinance\nF\t42.5\tnebraska\t631\n")
    jobs = {f"sample:{name}": (_pipeline, name, sample, out) for name, sample in SAMPLES.items()}
    jobs.update({
        "label_name": (cli, "train", header, "--label", "sex", "--test-fraction", "0.25",
                       "--epochs", "3", "--out", out / "by_name", "--json"),
        "label_index": (cli, "train", DATA / "people_train.tsv", "--label", "3", "--test",
                        DATA / "people_test.tsv", "--epochs", "3", "--out", out / "by_index",
                        "--json"),
        "error_ragged": (cli, "train", ragged, "--out", out / "x1"),
        "error_missing": (cli, "train", out / "no_such_file.tsv", "--out", out / "x2"),
        "error_label": (cli, "train", header, "--label", "colour", "--out", out / "x3"),
        "error_bundle": (cli, "evaluate", out / "no_bundle", DATA / "students_test.tsv"),
    })
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    futures = {key: pool.submit(*job) for key, job in jobs.items()}
    futures["out"] = Future()
    futures["out"].set_result(out)
    yield futures
    pool.shutdown(wait=True)


def _sample(runs, name: str) -> dict[str, Result]:
    results = runs[f"sample:{name}"].result()
    for step, result in results.items():
        assert result.returncode == 0, f"{step}: {result.args}\n{result.stderr}"
    return results


@pytest.mark.parametrize("name", SAMPLES)
def test_train_json(runs, name):
    sample = SAMPLES[name]
    result = _sample(runs, name)["train"]
    data = result.json
    assert TRAIN_KEYS <= set(data)
    assert data["class_names"] == sample.classes
    assert data["epochs_run"] == (20 if name == "students" else 4)
    assert data["device"].startswith("CPU") or data["device"].startswith("CUDA")
    assert 0 < data["train_seconds"] < 120
    assert 0 <= data["train_accuracy"] <= 1 and 0 <= data["test_accuracy"] <= 1
    k = len(sample.classes)
    confusion = data["confusion_matrix"]
    assert len(confusion) == k and all(len(row) == k for row in confusion)
    assert sum(map(sum, confusion)) == data["test_rows"]
    assert sum(confusion[i][i] for i in range(k)) == data["test_correct"]
    assert data["test_accuracy"] == pytest.approx(data["test_correct"] / data["test_rows"])
    assert [c["name"] for c in data["per_class"]] == sample.classes
    assert [c["support"] for c in data["per_class"]] == [sum(row) for row in confusion]
    bundle = Path(data["bundle"])
    assert (bundle / "model.pt").is_file() and (bundle / "bundle.json").is_file()
    # the demo's story is printed before the JSON line
    story = result.stdout
    assert "Read " in story and "Network: " in story and "Test accuracy: " in story
    assert f"{data['test_correct']} of {data['test_rows']} correct" in story


def test_students_story_matches_the_article(runs):
    data = _sample(runs, "students")["train"].json
    assert data["architecture"] == "6-(10-10)-3"
    assert (data["train_rows"], data["test_rows"]) == (200, 40)


@pytest.mark.parametrize("name", SAMPLES)
def test_evaluate(runs, name):
    results = _sample(runs, name)
    data = results["evaluate"].json
    trained = results["train"].json
    assert data["class_names"] == SAMPLES[name].classes
    rows = sum(1 for line in (DATA / SAMPLES[name].check).read_text().splitlines()
               if line.strip())
    assert data["n"] == rows and sum(map(sum, data["confusion_matrix"])) == rows
    if SAMPLES[name].split[0] == "--test":  # evaluating the test file repeats the test report
        assert data["n_correct"] == trained["test_correct"]
        assert data["confusion_matrix"] == trained["confusion_matrix"]
    assert set(data["macro"]) == {"precision", "recall", "f1"}
    assert (data["binary"] is not None) == (len(SAMPLES[name].classes) == 2)


@pytest.mark.parametrize("name", SAMPLES)
def test_predict_rows_and_input(runs, name):
    results = _sample(runs, name)
    classes = SAMPLES[name].classes
    by_row = results["predict_row"].json["predictions"]
    assert [p["row"] for p in by_row] == [1, 2]
    by_input = results["predict_input"].json["predictions"]
    rows = sum(1 for line in (DATA / SAMPLES[name].check).read_text().splitlines()
               if line.strip())
    assert len(by_input) == rows
    for prediction in by_row + by_input:
        assert prediction["label"] in classes
        assert list(prediction["probabilities"]) == classes
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert prediction["label"] == max(prediction["probabilities"],
                                          key=prediction["probabilities"].get)
    for i in range(2):  # a --row gives what the same line of the file gives
        assert by_row[i]["label"] == by_input[i]["label"]
        for c in classes:
            assert by_row[i]["probabilities"][c] == pytest.approx(
                by_input[i]["probabilities"][c], abs=1e-6)


@pytest.mark.parametrize("name", SAMPLES)
def test_export_onnx(runs, name):
    result = _sample(runs, name)["export"]
    data = result.json
    assert Path(data["onnx"]).is_file() and data["max_abs_diff"] <= 1e-4
    assert data["labels_equal"] and data["rows"] > 0
    assert "matches PyTorch" in result.stdout
    assert f"[batch, {len(SAMPLES[name].classes)}]" in result.stdout


def test_resume_gives_identical_model_pt(runs):
    results = _sample(runs, "students")
    out = runs["out"].result()
    resumed = results["resume"].json
    assert resumed["epochs_run"] == 20
    assert "resuming from" in results["resume"].stdout
    logged = [line.split()[1] for line in results["resume"].stdout.splitlines()
              if line.strip().startswith("epoch ")]
    assert logged and all(int(epoch) > 10 for epoch in logged)
    checkpoints = sorted(p.name for p in (out / "students" / "checkpoints").iterdir())
    assert checkpoints == ["epoch-00010.pt", "epoch-00020.pt"]
    whole = torch.load(out / "students" / "model.pt", weights_only=True)
    again = torch.load(out / "resumed" / "model.pt", weights_only=True)
    assert set(whole) == set(again)
    for key in whole:
        assert torch.equal(whole[key], again[key]), key
    assert resumed["test_correct"] == results["train"].json["test_correct"]


def test_label_by_name_on_a_header_file(runs):
    data = runs["label_name"].result().json
    assert data["class_names"] == ["F", "M"]
    assert "a header" in runs["label_name"].result().stdout
    assert data["architecture"] == "8-(16-16)-2"  # units, 3 states, score, 3 majors


def test_label_by_index_on_a_no_header_file(runs):
    result = runs["label_index"].result()
    data = result.json
    assert data["class_names"] == ["conservative", "liberal", "moderate"]
    assert "Label 'col3'" in result.stdout


@pytest.mark.parametrize("key, message", [
    ("error_ragged", "ragged.tsv, line 2: expected 5 fields"),
    ("error_missing", "no_such_file.tsv: cannot open the file"),
    ("error_label", "no column named 'colour'"),
    ("error_bundle", "no bundle here"),
])
def test_errors_are_one_line_without_traceback(runs, key, message):
    result = runs[key].result()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
