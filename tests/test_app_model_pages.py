"""AppTest of the Evaluate, Predict and Export pages with a trained model of each kind
(binary: the people sample; multi-class: the students sample), and with no model at all.

The models are trained with mlcore in the test (a few epochs) and put into session state,
as the Train page leaves them. Assertions check the content the pages show: numbers, rows
and messages, compared with what mlcore computes for the same model."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from mlcore.bundle import bundle_from_zip, load_bundle
from mlcore.metrics import Report
from mlcore.model import ModelConfig
from mlcore.samples import SAMPLES
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.training import TrainConfig
from mlcore.workflow import fit, prepare
from ui.state import DatasetState, ModelState

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ("views/evaluate.py", "views/predict.py", "views/export.py")


def _train(name: str, epochs: int = 25) -> tuple[DatasetState, object, object]:
    sample = SAMPLES[name]
    train = read_table(sample.train_path(), sample.train_file, names=list(sample.columns))
    test = read_table(sample.test_path(), sample.test_file, names=list(sample.columns))
    schema = infer_schema(train.frame, sample.label)
    prepared = prepare(train.frame, schema, test.frame, source=train.name)
    run = fit(prepared, ModelConfig(hidden=(10, 10)),
              TrainConfig(epochs=epochs, batch_size=16, device="cpu"))
    return DatasetState(sample.train_file, train, schema, test, name), run, prepared


@pytest.fixture(scope="module")
def people():
    return _train("people")


@pytest.fixture(scope="module")
def students():
    return _train("students")


def model_of(trained) -> ModelState:
    _, run, prepared = trained
    return ModelState(run.bundle, "trained here", dict(run.reports), dict(prepared.parts))


def open_page(page: str, data: DatasetState | None = None,
              model: ModelState | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if data is not None:
        at.session_state["dataset"] = data
    if model is not None:
        at.session_state["model"] = model
    at.switch_page(page)
    return at.run()


def texts(at: AppTest, *kinds: str) -> str:
    kinds = kinds or ("markdown", "caption", "info", "warning", "error", "success")
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """Bytes of every download button rendered, by file name."""
    captured: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        if filename and isinstance(path_or_data, bytes):
            captured[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return captured


# ------------------------------------------------------------------- no model


@pytest.mark.parametrize("page", PAGES)
def test_pages_without_model_say_what_they_show_and_link_the_step(page, people):
    at = ok(open_page(page))
    info = texts(at, "info")
    assert {"views/evaluate.py": "confusion matrix", "views/predict.py": "form",
            "views/export.py": "ONNX"}[page] in info
    assert "There is no model yet" in info
    assert "Step 1: load a table on Data" in [link.value for link in at.page_link]
    if page == "views/export.py":
        assert at.file_uploader(key="import_zip")  # importing needs no model

    at = ok(open_page(page, data=people[0]))
    assert "Step 2: train a model" in [link.value for link in at.page_link]


# ------------------------------------------------------------------- Evaluate


def test_evaluate_binary_accuracy_threshold_roc(people):
    model = model_of(people)
    at = ok(open_page("views/evaluate.py", people[0], model))
    train, test = model.reports["train"], model.reports["test"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Train accuracy"] == f"{train.accuracy:.2%}"
    assert metrics["Test accuracy"] == f"{test.accuracy:.2%}"
    assert f"{test.n_correct} of 40 correct · log-loss {test.log_loss:.4f}" in texts(at)
    table = at.dataframe[0].value
    assert list(table["class"]) == ["F", "M", "macro average", "weighted average"]
    assert list(table["correct"][:2]) == [r["correct"] for r in test.per_class()]
    assert table["F1"][2] == pytest.approx(test.averages()["macro"]["f1"])

    at.slider(key=f"eval_threshold_{model.key}").set_value(0.8).run()
    ok(at)
    moved = test.at_threshold(0.8)
    table = at.dataframe[0].value
    assert list(table["correct"][:2]) == [r["correct"] for r in moved.per_class()]
    assert list(table["precision"][:2]) == pytest.approx(
        [r["precision"] for r in moved.per_class()])
    assert f"**At threshold 0.80:** {moved.summary()}" in texts(at)
    assert f"true positives **{moved.binary()['tp']}**" in texts(at)
    figures = charts(at)
    confusion = next(f for f in figures if "Confusion matrix" in f["layout"]["title"]["text"])
    assert confusion["data"][0]["z"] == moved.confusion.tolist()
    roc = next(f for f in figures if f["layout"]["title"]["text"].startswith("ROC"))
    assert f"AUC = {test.binary()['roc']['auc']:.3f}" in roc["layout"]["title"]["text"]
    assert any(t.get("name") == "threshold 0.80" for t in roc["data"])


def test_save_this_threshold_reaches_predict_bundle_and_onnx(people, downloads):
    model = model_of(people)
    at = ok(open_page("views/evaluate.py", people[0], model))
    assert not [b for b in at.button if b.key == "save_threshold"]  # nothing to save at 0.50
    at.slider(key=f"eval_threshold_{model.key}").set_value(0.8).run()
    at.button(key="save_threshold").click().run()
    saved = ok(at).session_state["model"]
    assert saved.bundle.threshold == pytest.approx(0.8) and saved.key != model.key
    assert saved.reports["test"].summary() == model.reports["test"].at_threshold(0.8).summary()
    assert saved.bundle.metrics["test"]["binary"]["threshold"] == pytest.approx(0.8)
    assert "Saved: the model now predicts **M** when P(M) ≥ 0.80" in texts(at, "caption")
    assert at.slider(key=f"eval_threshold_{saved.key}").value == pytest.approx(0.8)

    rows = people[2].parts["test"]
    probabilities = model.predictor.predict(rows).probabilities
    decided = ["M" if p >= 0.8 else "F" for p in probabilities[:, 1]]
    at.switch_page("views/predict.py").run()
    assert "Predicts **M** when P(M) ≥ 0.80" in texts(ok(at), "caption")
    assert saved.predictor.predict(rows).labels == decided
    at.switch_page("views/export.py").run()
    ok(at)
    assert bundle_from_zip(downloads["sex-classifier.zip"]).threshold == pytest.approx(0.8)
    session = onnxruntime.InferenceSession(downloads["model.onnx"],
                                           providers=["CPUExecutionProvider"])
    from mlcore.onnx_raw import raw_feeds
    labels = session.run(["label"], raw_feeds(saved.bundle, saved.predictor.to_frame(rows)))[0]
    assert [str(v) for v in labels] == decided


def test_evaluate_multiclass_confusion_cell_lists_its_rows(students):
    model = model_of(students)
    report, rows = model.reports["test"], model.parts["test"]
    at = ok(open_page("views/evaluate.py", students[0], model))
    assert not at.slider  # no threshold for three classes
    names = report.class_names
    i, j = max(((a, p) for a in range(3) for p in range(3) if a != p),
               key=lambda cell: report.confusion[cell])
    assert report.confusion[i, j] > 0
    at.selectbox(key=f"cell_actual_{model.key}").set_value(names[i])
    at.selectbox(key=f"cell_predicted_{model.key}").set_value(names[j]).run()
    ok(at)
    count = int(report.confusion[i, j])
    plural = "s" if count != 1 else ""
    assert f"**{count}** test row{plural} of class **{names[i]}** predicted as **{names[j]}**" \
        in texts(at, "markdown")
    listed = at.dataframe[1].value
    positions = report.cell_positions(i, j)
    assert list(listed.index) == list(rows.index[positions])
    assert set(listed["major"]) == {names[i]} and set(listed["predicted"]) == {names[j]}
    assert list(listed["score"]) == list(rows["score"].iloc[positions])  # raw values
    assert listed[f"P({names[j]})"].to_numpy() == pytest.approx(
        report.probabilities[positions, j], abs=1e-4)

    at.selectbox(key=f"cell_predicted_{model.key}").set_value(names[i]).run()
    listed = at.dataframe[1].value
    assert len(listed) == report.confusion[i, i]
    assert f"class **{names[i]}** correctly predicted" in texts(at, "markdown")
    figures = charts(at)
    assert any(f["layout"]["title"]["text"] == "Decision regions" for f in figures)
    assert any(f["layout"]["title"]["text"] == "Training curves" for f in figures)


def test_evaluate_calls_out_a_class_never_predicted(students):
    model = model_of(students)
    report = model.reports["test"]
    probabilities = report.probabilities.copy()
    probabilities[:, 2] = 0.0  # 'history' never wins
    model.reports["test"] = Report(report.class_names, probabilities, report.targets)
    at = ok(open_page("views/evaluate.py", students[0], model))
    history = int((report.targets == 2).sum())
    assert (f"The model never predicts **history**: all {history} test rows of that class "
            "are given another class.") in texts(at, "warning")


def test_evaluate_imported_bundle_without_rows_shows_stored_metrics(people):
    data, run, _ = people
    at = ok(open_page("views/evaluate.py", data, ModelState(run.bundle, "imported from p.zip")))
    assert "metrics stored in the bundle" in texts(at, "info")
    stored = run.bundle.metrics["test"]
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == f"{stored['accuracy']:.2%}"
    assert list(at.dataframe[0].value["correct"][:2]) == [r["correct"]
                                                          for r in stored["per_class"]]
    at.button[0].click().run()  # "Evaluate on people_train.tsv"
    ok(at)
    assert at.session_state["model"].reports["test"].summary() == \
        run.reports["test"].summary()
    assert at.dataframe[1] is not None


# ------------------------------------------------------------------- Predict


def form_values(bundle) -> dict:
    return {c.name: (c.levels[-1] if c.kind != "numeric" else round(c.low + 0.3 *
                                                                    (c.high - c.low)))
            for c in bundle.encoder.columns}


def test_predict_form_gives_the_models_label_and_probabilities(students):
    model = model_of(students)
    at = ok(open_page("views/predict.py", students[0], model))
    values = form_values(model.bundle)
    for name, value in values.items():
        widget = f"pf_{model.key}_{name}"
        if isinstance(value, str):
            at.selectbox(key=widget).set_value(value)
        else:
            at.number_input(key=widget).set_value(value)
    at.button[0].click().run()  # the form's "Predict"
    ok(at)
    expected = model.predictor.predict(values)
    label = expected.labels[0]
    p = expected.probabilities[0][expected.class_names.index(label)]
    assert f"Predicted **major**: **{label}** (probability {p:.1%})" in texts(at, "success")
    figure = next(f for f in charts(at) if f["layout"]["title"]["text"].startswith("Prediction"))
    assert figure["data"][0]["x"] == pytest.approx(expected.probabilities[0].tolist())

    at.number_input(key=f"pf_{model.key}_score").set_value(5000)
    at.button[0].click().run()
    assert "far outside the training range" in texts(ok(at), "warning")


def test_predict_batch_with_bad_rows_shows_messages_and_downloads(people, downloads):
    model = model_of(people)
    at = ok(open_page("views/predict.py", people[0], model))
    upload = ("age\tstate\tincome\tpolitics\tsex\n"
              "58\tnebraska\t39000\tmoderate\tF\n"
              "abc\tmichigan\t48900\tliberal\tF\n"
              "34\ttexas\t39200\tliberal\tM\n"
              "31\toklahoma\t23500\tconservative\tF\n")
    at.file_uploader(key="predict_upload").upload("rows.tsv", upload.encode(), "text/plain")
    at.run()
    ok(at)
    errors = texts(at, "error")
    assert "2 problems (not predicted)" in errors
    assert "Line 3, column 'age': 'abc' is not a number" in errors
    assert "Line 4, column 'state': 'texas' was not seen in training" in errors
    table = at.dataframe[0].value
    expected = model.predictor.predict(pd.DataFrame(
        {"age": ["58", "31"], "state": ["nebraska", "oklahoma"], "income": ["39000", "23500"],
         "politics": ["moderate", "conservative"]}))
    assert list(table.loc[[2, 5], "predicted"]) == expected.labels
    assert table.loc[[3, 4], "predicted"].isna().all()
    assert table.loc[[2, 5], "P(M)"].to_numpy() == pytest.approx(expected.probabilities[:, 1])
    assert "not a number" in table.loc[3, "problem"]
    correct = sum(a == b for a, b in zip(expected.labels, ["F", "F"]))
    assert {m.label: m.value for m in at.metric}["Accuracy on rows.tsv"] == f"{correct / 2:.2%}"
    assert f"{correct} of 2 correct" in texts(at, "caption")
    tsv = downloads["rows-predicted.tsv"].decode()
    assert tsv.splitlines()[0].split("\t")[:7] == ["line", "age", "state", "income",
                                                  "politics", "sex", "predicted"]
    assert "rows-predicted.csv" in downloads

    at.radio(key="predict_unknown").set_value("zeros").run()  # predict texas as zeros
    assert "1 problem (not predicted)" in texts(ok(at), "error")
    assert "encoded as all zeros" in texts(at, "warning")

    at.file_uploader(key="predict_upload").upload(
        "short.tsv", b"age\tincome\n40\t50000\n", "text/plain")
    at.run()
    assert "Could not use short.tsv" in texts(ok(at), "error")


# ------------------------------------------------------------------- Export


def test_export_downloads_snippets_and_import_round_trip(students, downloads, tmp_path,
                                                         monkeypatch):
    data, run, prepared = students
    model = model_of(students)
    at = ok(open_page("views/export.py", data, model))
    caption = texts(at, "caption")
    assert f"Checked with onnxruntime {onnxruntime.__version__} on " in caption
    assert "raw rows (240 of this table, " in caption
    check = at.session_state["export_files"]["check"]
    assert check.labels_identical and check.table_rows == 240
    assert f"labels agree with the app's on **{check.rows:,} of {check.rows:,}**" in caption
    for name in ("major-classifier.zip", "model.pt", "model.onnx", "model-features.onnx"):
        (tmp_path / name).write_bytes(downloads[name])

    # every snippet runs as shown and agrees with the app's predictor
    monkeypatch.chdir(tmp_path)
    snippets = [c.value for c in at.code if c.language == "python"]
    assert len(snippets) == 4
    example = {c.name: prepared.parts["test"].iloc[0][c.name] for c in run.bundle.encoder.columns}
    want = model.predictor.predict(example).probabilities[0]
    for code in snippets:
        scope: dict = {}
        exec(compile(code, "snippet", "exec"), scope)
        got = scope["result"].probabilities[0] if "result" in scope else \
            np.asarray(scope["probabilities"][0], dtype=float)
        assert got == pytest.approx(want, abs=1e-4), code

    # import the downloaded zip in a fresh session: same probabilities, evaluated on the data
    fresh = ok(open_page("views/export.py", data))
    fresh.file_uploader(key="import_zip").upload("major-classifier.zip",
                                                 downloads["major-classifier.zip"],
                                                 "application/zip")
    fresh.run()
    ok(fresh)
    assert "Loaded **6-(10-10)-3** predicting **major**" in texts(fresh, "success")
    imported = fresh.session_state["model"]
    assert imported.origin == "imported from major-classifier.zip"
    assert imported.reports["test"].summary() == run.reports["test"].summary()
    rows = prepared.parts["test"]
    assert np.array_equal(imported.predictor.predict(rows).probabilities,
                          model.predictor.predict(rows).probabilities)

    fresh.switch_page("views/predict.py").run()
    fresh.button[0].click().run()  # predict the form's defaults with the imported model
    defaults = {c.name: c.fill if c.kind == "numeric" else c.levels[0]
                for c in run.bundle.encoder.columns}
    label = model.predictor.predict(defaults).labels[0]
    assert f"Predicted **major**: **{label}**" in texts(ok(fresh), "success")

    # wrong or damaged files: a clear error, the model is kept
    fresh.switch_page("views/export.py").run()
    damaged = downloads["major-classifier.zip"][:200]
    no_weights = io.BytesIO()
    with zipfile.ZipFile(no_weights, "w") as archive:
        archive.writestr("bundle.json", "{}")
    for name, content, message in (("notes.zip", b"just text", "not a zip file"),
                                   ("cut.zip", damaged, "not a zip file"),
                                   ("half.zip", no_weights.getvalue(), "has no model.pt")):
        fresh.file_uploader(key="import_zip").upload(name, content, "application/zip")
        fresh.run()
        assert f"Could not import {name}" in texts(ok(fresh), "error")
        assert message in texts(fresh, "error")
        assert fresh.session_state["model"] is imported


def test_saved_models_belong_to_the_session(people, tmp_path, monkeypatch):
    data, run, _ = people
    monkeypatch.setenv("STUDIO_SAVE_DIR", str(tmp_path))
    at = ok(open_page("views/export.py", data, model_of(people)))
    mine = tmp_path / "sessions" / at.session_state["session_id"]
    at.text_input[0].set_value("people-net")
    at.button(key="save_button").click().run()
    assert f"Saved to `{mine / 'people-net'}`" in texts(ok(at), "success")
    assert load_bundle(mine / "people-net").architecture == run.bundle.architecture
    at.button(key="save_button").click().run()
    assert "already exists" in texts(ok(at), "error")
    assert at.selectbox(key="load_saved_name").options == ["people-net"]

    at = ok(open_page("views/export.py", data, model_of(people)))  # another session
    assert at.session_state["session_id"] != mine.name
    assert not [s for s in at.selectbox if s.key == "load_saved_name"]
    assert bundle_from_zip(at.session_state["export_files"]["zip"]).class_names == ["F", "M"]
