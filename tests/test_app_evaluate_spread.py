"""Issue 13 on Evaluate: the baselines beside the model (majority class, logistic regression
on the same split) and an ensemble's spread over its members.

The models are trained with mlcore and finished as the training worker finishes them
(mlcore.tasks.finish_run: importance and baselines), then put into session state as the
Train page leaves them, or imported as a bundle .zip on Export. The page's numbers are
compared with the bundle's stored metrics."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mlcore.bundle import bundle_to_zip
from mlcore.model import ModelConfig
from mlcore.samples import SAMPLES
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.tasks import finish_run
from mlcore.training import TrainConfig
from mlcore.workflow import fit, prepare
from ui.state import DatasetState, ModelState

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _train(sample_name: str, ensemble: int, epochs: int = 30):
    sample = SAMPLES[sample_name]
    train = read_table(sample.train_path(), sample.train_file, names=list(sample.columns))
    test = read_table(sample.test_path(), sample.test_file, names=list(sample.columns))
    schema = infer_schema(train.frame, sample.label)
    prepared = prepare(train.frame, schema, test.frame, source=train.name,
                       validation_fraction=0.2)
    run = finish_run(fit(prepared, ModelConfig(hidden=(10, 10), ensemble=ensemble),
                         TrainConfig(epochs=epochs, batch_size=16, device="cpu")), prepared)
    return DatasetState(sample.train_file, train, schema, test, sample_name), run, prepared


@pytest.fixture(scope="module")
def ensemble():
    return _train("students", ensemble=6)


@pytest.fixture(scope="module")
def single():
    return _train("people", ensemble=1, epochs=10)


def open_evaluate(data=None, model=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if data is not None:
        at.session_state["dataset"] = data
    if model is not None:
        at.session_state["model"] = model
    at.switch_page("views/evaluate.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def trained_here(trained) -> ModelState:
    _, run, prepared = trained
    return ModelState(run.bundle, "trained here", dict(run.reports), dict(prepared.parts))


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning")
                     for e in getattr(at, kind))


def baselines_table(at: AppTest):
    tables = [t.value for t in at.dataframe if "macro_f1" in t.value.columns]
    assert len(tables) == 1, "one baselines table"
    return tables[0]


def check_table(at: AppTest, metrics: dict) -> None:
    table = baselines_table(at).set_index("model")
    assert list(table.index) == ["this model", "majority class", "logistic regression"]
    test, baselines = metrics["test"], metrics["baselines"]
    assert table.loc["this model", "accuracy"] == 100 * test["accuracy"]  # shown in percent
    assert table.loc["this model", "macro_f1"] == test["macro"]["f1"]
    assert table.loc["this model", "log_loss"] == test["log_loss"]
    for row, name in (("majority class", "majority"), ("logistic regression", "logistic")):
        stored = baselines[name]
        assert table.loc[row, "accuracy"] == 100 * stored["accuracy"]
        assert table.loc[row, "macro_f1"] == stored["macro_f1"]
        assert table.loc[row, "log_loss"] == stored["log_loss"]
        assert table.loc[row, "points"] == pytest.approx(
            100 * (stored["accuracy"] - test["accuracy"]))


def members_chart(at: AppTest) -> dict | None:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"]["title"]["text"].startswith("Each member's"):
            return spec
    return None


def test_an_ensemble_shows_its_baselines_and_its_members_spread(ensemble):
    data, run, _ = ensemble
    metrics = run.bundle.metrics
    members = metrics["test"]["members"]
    assert members["count"] == 6
    at = open_evaluate(data, trained_here(ensemble))
    check_table(at, metrics)
    shown = texts(at)
    assert "on the same 40 test rows" in shown and "validation rows included" in shown
    assert "sampled" not in shown  # 200 rows: logistic regression fits on all of them
    assert (f"6 members: min {members['min']:.1%}, median {members['median']:.1%}, max "
            f"{members['max']:.1%}; the ensemble (mean of their probabilities) "
            f"{members['ensemble']:.1%}") in shown
    assert members["ensemble"] == run.reports["test"].accuracy
    spec = members_chart(at)
    assert sorted(spec["data"][0]["x"]) == sorted(members["accuracy"])


def test_an_imported_ensemble_evaluated_on_the_loaded_table(ensemble):
    """Export's import path: the bundle .zip keeps its baselines; with the table on Data the
    full view is shown and the member line comes from the fresh evaluation."""
    data, run, _ = ensemble
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["dataset"] = data
    at.switch_page("views/export.py").run()
    at.file_uploader(key="import_zip").upload("ens.zip", bundle_to_zip(run.bundle),
                                              "application/zip").run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("views/evaluate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["model"].origin == "imported from ens.zip"
    check_table(at, run.bundle.metrics)
    members = run.bundle.metrics["test"]["members"]
    assert f"median {members['median']:.1%}" in texts(at)
    # the same test file: the stored row and the fresh evaluation agree, nothing to say
    assert "as measured when it trained" not in texts(at)
    assert "one of 40 rows is 2.5 points" in texts(at)


def test_a_single_network_shows_baselines_and_no_member_spread(single):
    data, run, _ = single
    at = open_evaluate(data, trained_here(single))
    check_table(at, run.bundle.metrics)
    assert "members:" not in texts(at) and members_chart(at) is None


def test_a_model_without_stored_baselines_says_when_they_come(single):
    data, run, prepared = single
    metrics = {k: v for k, v in run.bundle.metrics.items() if k != "baselines"}
    old = ModelState(replace(run.bundle, metrics=metrics), "trained here", dict(run.reports),
                     dict(prepared.parts))
    at = open_evaluate(data, old)
    assert "they come with models trained from this version" in texts(at)
    assert not [t for t in at.dataframe if "macro_f1" in t.value.columns]
    # a model from a file without its rows: the stored view, same caption
    at = open_evaluate(model=ModelState(replace(run.bundle, metrics=metrics), "imported"))
    assert "they come with models trained from this version" in texts(at)


def test_the_stored_view_shows_baselines_and_members(ensemble):
    _, run, _ = ensemble
    at = open_evaluate(model=ModelState(run.bundle, "imported from ens.zip"))
    check_table(at, run.bundle.metrics)
    members = run.bundle.metrics["test"]["members"]
    assert f"max {members['max']:.1%}" in texts(at)
    assert members_chart(at) is not None


def test_saving_a_threshold_keeps_the_baselines(single):
    data, run, prepared = single
    moved = run.bundle.with_threshold(0.3, run.reports)
    assert moved.metrics["baselines"] == run.bundle.metrics["baselines"]
    assert moved.metrics["importance"] == run.bundle.metrics["importance"]
    assert moved.metrics["test"]["binary"]["threshold"] == 0.3


def test_an_imported_model_on_other_test_rows_says_whose_rows_the_table_is_on(ensemble):
    data, run, _ = ensemble
    other = DatasetState(data.name, data.table, data.schema, None, None, test_fraction=0.3)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["dataset"] = other
    at.switch_page("views/export.py").run()
    at.file_uploader(key="import_zip").upload("ens.zip", bundle_to_zip(run.bundle),
                                              "application/zip").run()
    at.switch_page("views/evaluate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["model"].reports["test"].n == 61
    check_table(at, run.bundle.metrics)  # the stored figures, on the training split's rows
    assert "This model's row is as measured when it trained" in texts(at)
    assert "one of 61 rows is 1.6 points" in texts(at)
