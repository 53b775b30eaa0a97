"""Issue 13 on the command line, end to end through `mlcore.cli.main` (what `python -m
mlcore` calls) on the bundled samples: --preset (classic is the articles' network, a flag
given overrides the preset), --ensemble's members and the baselines in --json, --seeds and
--cv's spread, their refusals, and `search` (3 trials on a tiny table, its best bundle
loaded by `predict` and recorded in the store). Few epochs throughout."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from conftest import DATA
from mlcore.bundle import load_bundle
from mlcore.cli import main
from mlcore.model import ModelConfig
from mlcore.training import TrainConfig

STUDENTS = [str(DATA / "students_train.tsv"), "--test", str(DATA / "students_test.tsv")]
PEOPLE = [str(DATA / "people_train.tsv"), "--test", str(DATA / "people_test.tsv")]


def _cli(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    """Run the CLI; (exit status, stdout lines, stderr lines)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def _train(capsys, tmp_path: Path, *argv: str, data=STUDENTS) -> tuple[dict, list[str]]:
    """`train DATA ARGV --out tmp/bundle --json`: its JSON and the lines before it."""
    code, out, err = _cli(capsys, "train", *data, *argv, "--out", str(tmp_path / "bundle"),
                          "--json")
    assert code == 0, err
    return json.loads(out[-1]), out[:-1]


def _refused(capsys, *argv: str) -> str:
    """The one stderr line of a refused command (exit status 1, nothing on stdout after)."""
    code, _, err = _cli(capsys, *argv)
    assert code == 1 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_classic_preset_is_the_articles_recipe(capsys, tmp_path):
    result, lines = _train(capsys, tmp_path, "--preset", "classic", "--epochs", "5")
    assert result["architecture"] == "6-(10-10)-3" and result["preset"] == "classic"
    assert result["model_config"] == ModelConfig((10, 10), "tanh", init="xavier").to_dict()
    t = result["train_config"]
    assert (t["optimizer"], t["lr"], t["momentum"], t["batch_size"], t["epochs"]) == \
        ("sgd", 0.01, 0.0, 10, 5)
    assert (result["scaling"], result["validation_fraction"], result["refit"]) == \
        ("divisor", 0.0, False)
    assert result["epochs_run"] == 5 and result["members"] is None
    bundle = load_bundle(tmp_path / "bundle")
    assert bundle.architecture == "6-(10-10)-3" and bundle.model_config.init == "xavier"
    assert bundle.train_config.batch_size == 10 and bundle.train_config.optimizer == "sgd"
    assert "Preset classic (the articles' recipe), with --epochs from the command line" in lines
    # the people table has two classes: the article's one sigmoid output
    people, _ = _train(capsys, tmp_path, "--preset", "classic", "--epochs", "3", data=PEOPLE)
    assert people["architecture"] == "8-(10-10)-1"
    assert people["model_config"]["binary_head"] == "sigmoid"


def test_flags_override_the_preset_and_plain_train_is_unchanged(capsys, tmp_path):
    result, lines = _train(capsys, tmp_path, "--preset", "classic", "--hidden", "5",
                           "--lr", "0.05", "--epochs", "4")
    assert result["architecture"] == "6-(5)-3"
    assert result["train_config"]["lr"] == 0.05 and result["epochs_run"] == 4
    assert result["train_config"]["optimizer"] == "sgd"       # the preset's, not given
    assert result["scaling"] == "divisor"
    assert any("with --hidden, --lr, --epochs from the command line" in line for line in lines)
    plain, lines = _train(capsys, tmp_path, "--epochs", "4")
    assert plain["preset"] is None and not any(line.startswith("Preset") for line in lines)
    assert plain["model_config"] == ModelConfig().to_dict()
    assert plain["train_config"] == {**TrainConfig().to_dict(), "epochs": 4}
    assert (plain["scaling"], plain["validation_fraction"], plain["refit"]) == \
        ("zscore", 0.0, False)


def test_ensemble_members_and_baselines(capsys, tmp_path):
    result, lines = _train(capsys, tmp_path, "--ensemble", "4", "--epochs", "10")
    members = result["members"]
    assert members["count"] == 4 and len(members["accuracy"]) == 4
    assert members["min"] <= members["median"] <= members["max"]
    assert members["ensemble"] == result["test_accuracy"]
    assert all(abs(a * 40 - round(a * 40)) < 1e-9 for a in members["accuracy"])  # 40 rows
    assert result["architecture"] == "6-(16-16)-3 ×4"
    assert load_bundle(tmp_path / "bundle").model_config.ensemble == 4
    baselines = result["baselines"]
    assert set(baselines) == {"majority", "logistic"}
    assert baselines["majority"]["accuracy"] == 16 / 40   # history: 16 of the 40 test rows
    assert baselines["majority"]["fit_rows"] == 200
    logistic = baselines["logistic"]["accuracy"]
    assert f"Baselines on the test rows: majority class 40.0%, logistic regression " \
           f"{logistic:.1%}" in lines
    assert any(line.startswith("Ensemble on the test rows: 4 members: min "
                               f"{members['min']:.1%}") for line in lines)


def test_seeds_report_mean_and_sd(capsys, tmp_path):
    result, lines = _train(capsys, tmp_path, "--preset", "default", "--ensemble", "2",
                           "--epochs", "6", "--seeds", "3")
    seeds = result["seeds"]
    assert seeds["kind"] == "seeds" and [r["seed"] for r in seeds["runs"]] == [1, 2, 3]
    accuracies = [r["accuracy"]["test"] for r in seeds["runs"]]
    assert seeds["test"]["accuracy"] == accuracies
    assert seeds["test"]["mean"] == pytest.approx(statistics.mean(accuracies))
    assert seeds["test"]["sd"] == pytest.approx(statistics.stdev(accuracies))
    assert all(r["members"]["count"] == 2 for r in seeds["runs"])
    assert "validation" in seeds          # the default preset holds out a validation part
    assert result["test_accuracy"] == accuracies[0]    # the bundle is seed 1's model,
    first = load_bundle(tmp_path / "bundle").state_dict  # the one plain train gives
    plain, _ = _train(capsys, tmp_path / "plain", "--preset", "default", "--ensemble", "2",
                      "--epochs", "6")
    assert plain["test_accuracy"] == accuracies[0]
    again = load_bundle(tmp_path / "plain" / "bundle").state_dict
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert "The saved bundle is seed 1's model." in lines
    assert any(line.startswith("Seeds: test accuracy ") and "over 3 seeds" in line
               for line in lines)


def test_cv_reports_folds(capsys, tmp_path):
    result, lines = _train(capsys, tmp_path, "--epochs", "5", "--cv", "3")
    cv = result["cv"]
    assert cv["kind"] == "cv" and [r["fold"] for r in cv["runs"]] == [0, 1, 2]
    accuracies = cv["test"]["accuracy"]
    assert len(accuracies) == 3 and cv["test"]["mean"] == pytest.approx(
        statistics.mean(accuracies))
    # 240 rows (both files) in 3 stratified folds: 80 test rows each
    assert all(abs(a * 80 - round(a * 80)) < 1e-9 for a in accuracies)
    assert "Cross-validating: 3 folds over 240 rows (both files) ..." in lines
    assert result["test_rows"] == 40       # the bundle's model: the usual split


def test_refusals_are_one_line(capsys, tmp_path):
    big = tmp_path / "big.tsv"
    big.write_text("x\ty\n" + "".join(f"{i % 97}\t{'ab'[i % 2]}\n" for i in range(20_001)))
    out = str(tmp_path / "never")
    line = _refused(capsys, "train", str(big), "--label", "y", "--cv", "3", "--out", out)
    assert "at most 20,000 rows" in line and "20,001" in line
    assert _refused(capsys, "train", *STUDENTS, "--ensemble", "0", "--out", out) == \
        "error: --ensemble wants 1 to 64 members (got 0)"
    assert "--seeds wants 2 to 50" in _refused(capsys, "train", *STUDENTS, "--seeds", "51",
                                               "--out", out)
    assert "--cv wants 2 to 20" in _refused(capsys, "train", *STUDENTS, "--cv", "1",
                                            "--out", out)
    assert "cannot be combined with --resume" in _refused(
        capsys, "train", *STUDENTS, "--seeds", "3", "--resume", "x.pt", "--out", out)
    assert "--trials wants 1 to 500" in _refused(capsys, "search", *STUDENTS, "--trials", "0")
    assert not Path(out).exists()


def test_search_three_trials_best_bundle_predicts(capsys, tmp_path):
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    bundle_dir = str(tmp_path / "best")
    code, out, err = _cli(capsys, "search", *STUDENTS, "--trials", "3", "--epochs", "8",
                          "--ensemble", "2", "--seed", "7", "--out", bundle_dir,
                          "--store", store, "--json")
    assert code == 0, err
    result = json.loads(out[-1])
    assert [t["number"] for t in result["trials"]] == [0, 1, 2] == \
        [int(line.split()[1]) for line in out if line.startswith("  trial ")]
    finished = [t for t in result["trials"] if t["state"] == "complete"]
    assert result["best"]["validation_accuracy"] == max(t["validation_accuracy"]
                                                        for t in finished)
    assert result["best"]["model_config"]["ensemble"] == 2 and result["members"]["count"] == 2
    assert all(t["epochs_run"] <= 8 for t in result["trials"])
    assert any(line.startswith("Refitted the best trial's model on training + validation "
                               "rows for ") for line in out)  # the default preset refits
    kept = [t for t in finished if t["kept"]]
    assert len(kept) == len(finished)  # small trials: every finished one is kept
    assert result["recorded"] == len(kept) and result["run_id"] is not None
    bundle = load_bundle(bundle_dir)
    assert bundle.model_config.to_dict() == result["best"]["model_config"]
    code, out, err = _cli(capsys, "predict", bundle_dir, "--input",
                          str(DATA / "students_test.tsv"), "--json")
    assert code == 0, err
    assert len(json.loads(out[-1])["predictions"]) == 40
    code, out, _ = _cli(capsys, "evaluate", bundle_dir, str(DATA / "students_test.tsv"),
                        "--json")
    assert json.loads(out[-1])["accuracy"] == result["test_accuracy"]
    code, out, _ = _cli(capsys, "runs", "list", "--store", store, "--json")
    runs = json.loads(out[-1])["runs"]  # newest first: the other trials after the best
    assert [r["id"] for r in runs][-1] == result["run_id"] and len(runs) == len(kept)
