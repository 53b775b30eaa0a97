"""The command line end to end: `python -m mlcore` in a subprocess on every sample.

A CLI process pays several seconds of interpreter + torch start-up (more for `train`, whose
first optimizer imports torch._dynamo), so the subprocess runs are started together once per
module in a small pool and the tests read their results. Every sample is trained by a real
`python -m mlcore train`; the students bundle then goes through resume, evaluate, predict and
export as subprocesses too, and every other sample's bundle through the same commands
in-process (`mlcore.cli.main`, the function `python -m mlcore` calls), as do the checks of
--label and of the rarer errors.
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
from mlcore.cli import main

TRAIN_KEYS = {"train_accuracy", "test_accuracy", "per_class", "confusion_matrix", "class_names",
              "epochs_run", "device", "train_seconds"}
STUDENTS = ["--hidden", "10,10", "--optimizer", "sgd", "--lr", "0.01", "--batch-size", "10",
            "--epochs", "20", "--checkpoint-every", "10"]


@dataclass
class Sample:
    train: str
    split: list[str]     # --test FILE or --test-fraction F
    check: str           # a labelled file to evaluate and predict on
    classes: list[str]


SAMPLES = {
    "students": Sample("students_train.tsv", ["--test", str(DATA / "students_test.tsv")],
                       "students_test.tsv", ["finance", "geology", "history"]),
    "people": Sample("people_train.tsv", ["--test", str(DATA / "people_test.tsv")],
                     "people_test.tsv", ["F", "M"]),
    "employees": Sample("employees_train.tsv", ["--test", str(DATA / "employees_test.tsv")],
                        "employees_test.tsv", ["mgmt", "supp", "tech"]),
    "blobs": Sample("blobs.tsv", ["--test-fraction", "0.2"], "blobs.tsv", ["A", "B", "C", "D"]),
    "digits": Sample("digits.tsv", ["--test-fraction", "0.2"], "digits.tsv",
                     [str(d) for d in range(10)]),
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
    """`python -m mlcore ARGS` in a fresh process from the repository root."""
    command = [sys.executable, "-m", "mlcore", *map(str, args)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return Result(command[3:], done.returncode, done.stdout, done.stderr)


def in_process(capsys, *args: str | Path) -> Result:
    """The same command through mlcore.cli.main in this process."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return Result([str(a) for a in args], code, captured.out, captured.err)


def _lines(name: str) -> list[list[str]]:
    return [line.split("\t") for line in (DATA / name).read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def _students(out: Path) -> dict[str, Result]:
    """The articles' demo: train 20 epochs with checkpoints, resume from epoch 10 into another
    directory, then evaluate, predict and export the bundle."""
    sample, bundle = SAMPLES["students"], out / "students"
    args = ["train", DATA / sample.train, *sample.split, *STUDENTS]
    runs = {"train": cli(*args, "--out", bundle, "--json")}
    if runs["train"].returncode:
        return runs
    runs["resume"] = cli(*args, "--resume", bundle / "checkpoints" / "epoch-00010.pt",
                         "--out", out / "resumed", "--json")
    first, second = _lines(sample.check)[:2]
    runs["evaluate"] = cli("evaluate", bundle, DATA / sample.check, "--json")
    runs["predict_row"] = cli("predict", bundle, "--row", ",".join(first[:-1]),
                              "--row", ",".join(second), "--json")
    runs["predict_input"] = cli("predict", bundle, "--input", DATA / sample.check, "--json")
    runs["export"] = cli("export", bundle, "--onnx", out / "students.onnx", "--onnx-raw",
                         out / "students-raw.onnx", "--check", DATA / sample.check, "--json")
    return runs


def _checked_resume(out: Path) -> dict[str, Result]:
    """Train 10 epochs with checkpoints every 5, then resume from epoch 5 with another
    activation (refused) and with a later total of epochs (accepted)."""
    bundle = out / "checked"

    def train(epochs: str, activation: str, *more: str | Path) -> list[str | Path]:
        return ["train", DATA / "students_train.tsv", "--test", DATA / "students_test.tsv",
                "--epochs", epochs, "--activation", activation, "--checkpoint-every", "5",
                *more]

    runs = {"train": cli(*train("10", "tanh", "--out", bundle))}
    if runs["train"].returncode:
        return runs
    checkpoint = bundle / "checkpoints" / "epoch-00005.pt"
    runs["relu"] = cli(*train("10", "relu", "--resume", checkpoint, "--out", out / "relu"))
    runs["longer"] = cli(*train("15", "tanh", "--resume", checkpoint, "--out", out / "longer",
                                "--json"))
    return runs


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def runs(out) -> dict[str, Future]:
    ragged = out / "ragged.tsv"
    ragged.write_text("M\t20.5\tmaryland\t584\tfinance\nF\t42.5\tnebraska\t631\n")
    jobs = {"students": (_students, out), "checked_resume": (_checked_resume, out)}
    for name, sample in SAMPLES.items():
        if name != "students":
            jobs[name] = (cli, "train", DATA / sample.train, *sample.split, "--epochs", "3",
                          "--out", out / name, "--json")
    jobs.update({
        "error_ragged": (cli, "train", ragged, "--out", out / "x1"),
        "error_missing": (cli, "train", out / "no_such_file.tsv", "--out", out / "x2"),
    })
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        yield {key: pool.submit(*job) for key, job in jobs.items()}


def _trained(runs, name: str) -> Result:
    result = runs[name].result()
    result = result["train"] if isinstance(result, dict) else result
    assert result.returncode == 0, f"{result.args}\n{result.stderr}"
    return result


def _step(runs, capsys, out: Path, name: str, step: str) -> Result:
    """One command on a sample's bundle: the subprocess run for students, in-process else."""
    _trained(runs, name)
    if name == "students":
        result = runs["students"].result()[step]
    else:
        sample, bundle = SAMPLES[name], out / name
        first, second = _lines(sample.check)[:2]
        args = {"evaluate": ["evaluate", bundle, DATA / sample.check],
                "predict_row": ["predict", bundle, "--row", ",".join(first[:-1]),
                                "--row", ",".join(second)],
                "predict_input": ["predict", bundle, "--input", DATA / sample.check],
                "export": ["export", bundle, "--onnx", out / f"{name}.onnx", "--onnx-raw",
                           out / f"{name}-raw.onnx", "--check", DATA / sample.check]}[step]
        result = in_process(capsys, *args, "--json")
    assert result.returncode == 0, f"{result.args}\n{result.stderr}"
    return result


def _rows(name: str) -> int:
    return len(_lines(SAMPLES[name].check))


@pytest.mark.parametrize("name", SAMPLES)
def test_train_json(runs, name):
    sample = SAMPLES[name]
    result = _trained(runs, name)
    data = result.json
    assert TRAIN_KEYS <= set(data)
    assert data["class_names"] == sample.classes
    assert data["epochs_run"] == (20 if name == "students" else 3)
    assert data["device"].startswith(("CPU", "CUDA"))
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
    if sample.split[0] == "--test":
        assert data["test_rows"] == _rows(name)
    else:
        assert data["test_rows"] == pytest.approx(0.2 * _rows(name), abs=k)
    bundle = Path(data["bundle"])
    assert (bundle / "model.pt").is_file() and (bundle / "bundle.json").is_file()
    story = result.stdout  # the demo's story comes before the JSON line
    assert "Read " in story and "Network: " in story and "Test accuracy: " in story
    assert f"{data['test_correct']} of {data['test_rows']} correct" in story


def test_students_is_the_articles_network(runs):
    data = _trained(runs, "students").json
    assert data["architecture"] == "6-(10-10)-3"
    assert (data["train_rows"], data["test_rows"]) == (200, 40)


@pytest.mark.parametrize("name", SAMPLES)
def test_evaluate(runs, capsys, out, name):
    data = _step(runs, capsys, out, name, "evaluate").json
    trained = _trained(runs, name).json
    assert data["class_names"] == SAMPLES[name].classes
    assert data["n"] == _rows(name) and sum(map(sum, data["confusion_matrix"])) == _rows(name)
    if SAMPLES[name].split[0] == "--test":  # evaluating the test file repeats the test report
        assert data["n_correct"] == trained["test_correct"]
        assert data["confusion_matrix"] == trained["confusion_matrix"]
    assert set(data["macro"]) == {"precision", "recall", "f1"}
    assert (data["binary"] is not None) == (len(SAMPLES[name].classes) == 2)


@pytest.mark.parametrize("name", SAMPLES)
def test_predict_rows_and_input(runs, capsys, out, name):
    classes = SAMPLES[name].classes
    by_row = _step(runs, capsys, out, name, "predict_row").json["predictions"]
    by_input = _step(runs, capsys, out, name, "predict_input").json["predictions"]
    assert [p["row"] for p in by_row] == [1, 2] and len(by_input) == _rows(name)
    for prediction in by_row + by_input:
        probabilities = prediction["probabilities"]
        assert list(probabilities) == classes
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert prediction["label"] == max(probabilities, key=probabilities.get)
    for i in range(2):  # a --row gives what the same line of the file gives
        assert by_row[i]["label"] == by_input[i]["label"]
        # float32 in a batch of one or of many: the same to 1e-6 of probability (the
        # relative difference of a 1e-4 probability can pass 1e-6)
        assert by_row[i]["probabilities"] == pytest.approx(by_input[i]["probabilities"],
                                                           abs=1e-6)


@pytest.mark.parametrize("name", SAMPLES)
def test_export_onnx(runs, capsys, out, name):
    result = _step(runs, capsys, out, name, "export")
    data, raw = result.json["onnx"], result.json["onnx_raw"]
    assert Path(data["path"]).is_file() and data["max_abs_diff"] <= 1e-4
    assert data["labels_equal"] and data["rows"] > 0
    assert "matches PyTorch" in result.stdout
    assert Path(raw["path"]).is_file() and raw["max_abs_diff"] <= 1e-5
    assert raw["labels_identical"] and raw["rows"] == data["rows"] > raw["table_rows"] > 0
    assert f"labels agree on {raw['rows']:,} of {raw['rows']:,}" in result.stdout
    assert f"[batch, {len(SAMPLES[name].classes)}]" in result.stdout
    for column, graph_input in raw["inputs"].items():  # the column -> input mapping
        assert f"{column!r:>24} -> {graph_input} (" in result.stdout


@pytest.mark.parametrize("name", SAMPLES)
def test_export_raw_from_folder_and_zip_without_check(runs, capsys, out, name):
    from mlcore.bundle import bundle_to_zip, load_bundle

    _trained(runs, name)
    zipped = out / f"{name}.zip"
    zipped.write_bytes(bundle_to_zip(load_bundle(out / name)))
    results = [in_process(capsys, "export", source, "--onnx-raw", out / f"{name}-{i}.onnx",
                          "--json").json["onnx_raw"] for i, source in enumerate((out / name,
                                                                                zipped))]
    for result in results:
        assert result["labels_identical"] and result["table_rows"] == 0
        assert result.pop("path")
    assert results[0] == results[1]
    assert (out / f"{name}-0.onnx").read_bytes() == (out / f"{name}-1.onnx").read_bytes()


def test_resume_gives_identical_model_pt(runs, out):
    results = runs["students"].result()
    resumed = results["resume"].json
    assert resumed["epochs_run"] == 20
    assert "resuming from" in results["resume"].stdout
    logged = [int(line.split()[1]) for line in results["resume"].stdout.splitlines()
              if line.strip().startswith("epoch ")]
    assert logged and min(logged) > 10 and max(logged) == 20
    checkpoints = sorted(p.name for p in (out / "students" / "checkpoints").glob("*.pt"))
    assert checkpoints == ["epoch-00010.pt", "epoch-00020.pt"]
    whole = torch.load(out / "students" / "model.pt", weights_only=True)
    again = torch.load(out / "resumed" / "model.pt", weights_only=True)
    assert set(whole) == set(again)
    for key in whole:
        assert torch.equal(whole[key], again[key]), key
    assert resumed["confusion_matrix"] == results["train"].json["confusion_matrix"]


def test_resume_refuses_another_activation_and_allows_more_epochs(runs):
    results = runs["checked_resume"].result()
    assert results["train"].returncode == 0, results["train"].stderr
    refused = results["relu"]
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "error: epoch-00005.pt was trained with activation=tanh, not relu; resume with the "
        "same settings or start a new run"]
    longer = results["longer"]
    assert longer.json["epochs_run"] == 15
    logged = [int(line.split()[1]) for line in longer.stdout.splitlines()
              if line.strip().startswith("epoch ")]
    assert logged and min(logged) > 5 and max(logged) == 15


def test_label_by_name_on_a_header_file(capsys, out):
    header = out / "students_header.csv"
    header.write_text("sex,units,state,score,major\n"
                      + "".join(",".join(row) + "\n" for row in _lines("students_train.tsv")))
    result = in_process(capsys, "train", header, "--label", "sex", "--test-fraction", "0.25",
                        "--epochs", "2", "--out", out / "by_name", "--json")
    assert "a header" in result.stdout and "Label 'sex'" in result.stdout
    data = result.json
    assert data["class_names"] == ["F", "M"] and abs(data["test_rows"] - 50) <= 1
    arch = data["architecture"]  # units, 3 states, score, 3 majors in; F or M out
    assert arch.startswith("8-") and arch.endswith("-2")
    unknown = in_process(capsys, "train", header, "--label", "colour", "--out", out / "x3")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == ("error: no column named 'colour' (columns: sex, units, "
                                      "state, score, major)")


def test_label_by_index_on_a_no_header_file(capsys, out):
    named = in_process(capsys, "train", DATA / "people_train.tsv", "--label", "3", "--test",
                       DATA / "people_test.tsv", "--epochs", "2", "--out", out / "by_name")
    assert named.returncode == 1 and "use --label-index 3" in named.stderr
    result = in_process(capsys, "train", DATA / "people_train.tsv", "--label-index", "3",
                        "--test", DATA / "people_test.tsv", "--epochs", "2", "--out",
                        out / "by_index", "--json")
    assert "no header" in result.stdout and "Label 'col3'" in result.stdout
    assert result.json["class_names"] == ["conservative", "liberal", "moderate"]
    with open(out / "by_index" / "bundle.json") as f:
        assert json.load(f)["encoder"]["label"] == "col3"


def test_bad_rows_for_predict_exit_non_zero(runs, capsys, out):
    _trained(runs, "students")
    bundle = out / "students"
    wrong = in_process(capsys, "predict", bundle, "--row", "M,30.5,texas,543")
    assert wrong.returncode == 1 and "texas" in wrong.stderr and "not seen" in wrong.stderr
    assert "(not predicted)" in wrong.stdout
    zeros = in_process(capsys, "predict", bundle, "--row", "M,30.5,texas,543",
                       "--unknown", "zeros", "--json")
    assert zeros.returncode == 0 and zeros.json["predictions"][0]["label"] is not None
    short = in_process(capsys, "predict", bundle, "--row", "M,30.5")
    assert short.returncode == 1 and "found 2 columns; expected 5" in short.stderr


@pytest.mark.parametrize("key, message", [
    ("error_ragged", "ragged.tsv, line 2: expected 5 fields"),
    ("error_missing", "no_such_file.tsv: cannot open the file"),
])
def test_errors_are_one_line_without_traceback(runs, key, message):
    result = runs[key].result()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_more_errors_in_process(capsys, out):
    for args, message in [
        (["evaluate", out / "no_bundle", DATA / "students_test.tsv"], "no bundle here"),
        (["train", DATA / "students_train.tsv", "--resume", out / "none.pt", "--epochs", "2",
          "--out", out / "x4"], "no such checkpoint"),
        (["train", DATA / "digits.tsv", "--device", "cuda", "--epochs", "1", "--out",
          out / "x5"], "CUDA"),
    ]:
        if args[0] == "train" and "cuda" in args and torch.cuda.is_available():
            continue
        result = in_process(capsys, *args)
        assert result.returncode == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_evaluate_importance_in_the_json(runs, capsys, out):
    _trained(runs, "people")
    sample = SAMPLES["people"]
    result = in_process(capsys, "evaluate", out / "people", DATA / sample.check, "--importance",
                        "--json")
    found = result.json["importance"]
    assert len(found) == 4 and {"column", "mean", "sd"} == set(found[0])
    assert [f["mean"] for f in found] == sorted((f["mean"] for f in found), reverse=True)
    assert "Feature importance (accuracy points lost" in result.stdout
