"""The raw-input ONNX graph: same labels and probabilities as the engine from raw rows, on
every sample, with missing values and with unseen categories; and the standalone example."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest

from mlcore.model import ModelConfig
from mlcore.onnx_check import export_raw_onnx, raw_onnx_bytes
from mlcore.onnx_export import ExportError
from mlcore.onnx_raw import input_names, raw_feeds, raw_model
from mlcore.predict import Predictor
from mlcore.samples import SAMPLES
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.training import TrainConfig
from mlcore.workflow import fit, prepare

from conftest import DATA, ROOT

QUICK = TrainConfig(epochs=3, batch_size=32, device="cpu")


def sample_bundle(name: str):
    """A quickly trained bundle of a sample, and its raw test rows."""
    sample = SAMPLES[name]
    train = read_table(sample.train_path(), names=list(sample.columns)).frame
    test = (read_table(sample.test_path(), names=list(sample.columns)).frame
            if sample.test_file else None)
    prepared = prepare(train, infer_schema(train, sample.label), test)
    return fit(prepared, ModelConfig(hidden=(8,)), QUICK).bundle, prepared.parts["test"]


def run_graph(path, bundle, frame):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, raw_feeds(bundle, Predictor(bundle).to_frame(frame)))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_round_trip_on_every_sample(name, tmp_path):
    bundle, test_rows = sample_bundle(name)
    path = tmp_path / "raw.onnx"
    check = export_raw_onnx(bundle, path, test_rows)
    assert check.table_rows == len(test_rows) and check.generated_rows > 256
    assert check.labels_identical and check.max_abs_diff <= 1e-5
    labels, probabilities, unknown = run_graph(path, bundle, test_rows)
    expected = Predictor(bundle).predict(test_rows, unknown="zeros")
    assert [str(v) for v in labels] == expected.labels
    np.testing.assert_allclose(probabilities, expected.probabilities, atol=1e-5)
    assert (unknown == 0).all()


def test_interface_and_metadata(students_bundle):
    model = raw_model(students_bundle)
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert list(inputs) == ["col0", "col1", "col2", "col3"]
    assert inputs["col1"].elem_type == onnx.TensorProto.FLOAT
    assert inputs["col0"].elem_type == onnx.TensorProto.STRING
    assert [d.dim_param or d.dim_value for d in inputs["col2"].shape.dim] == ["batch", 1]
    assert [o.name for o in model.graph.output] == ["label", "probabilities",
                                                     "unknown_categories"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["class_names_json"]) == ["finance", "geology", "history"]
    assert [c["kind"] for c in json.loads(meta["columns"])] == ["binary", "numeric",
                                                                "categorical", "numeric"]
    assert "torch" in json.loads(meta["versions"]) and "accuracy" in meta["metrics"]
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL
                   for t in model.graph.initializer)


def test_missing_values_are_imputed_as_in_training(students_bundle, tmp_path):
    rows = pd.DataFrame({"col0": ["M", None, "F"], "col1": [None, "30.5", "NA"],
                         "col2": ["oklahoma", "?", "maryland"], "col3": ["543", "", "600"]})
    path = tmp_path / "raw.onnx"
    check = export_raw_onnx(students_bundle, path, rows)
    assert check.table_rows == 3 and check.labels_identical and check.max_abs_diff <= 1e-5
    assert check.unknown_rows == 1  # the generated row of unseen categories


def test_unseen_categories_are_zeros_and_counted(students_bundle, tmp_path):
    rows = pd.DataFrame({"col0": ["M", "X", "F"], "col1": ["30", "40", "50"],
                         "col2": ["texas", "texas", "nebraska"], "col3": ["500", "500", "500"]})
    path = tmp_path / "raw.onnx"
    export_raw_onnx(students_bundle, path, rows)
    labels, probabilities, unknown = run_graph(path, students_bundle, rows)
    assert unknown.tolist() == [1, 2, 0]
    expected = Predictor(students_bundle).predict(rows, unknown="zeros")
    assert [str(v) for v in labels] == expected.labels
    np.testing.assert_allclose(probabilities, expected.probabilities, atol=1e-5)


def test_names_become_identifiers():
    bundle, _ = sample_bundle("students")
    bundle.encoder.columns[0].name = "home state"
    bundle.encoder.columns[1].name = "2nd"
    names = input_names(bundle)
    assert names["home state"] == "home_state" and names["2nd"] == "c_2nd"


def test_a_disagreeing_graph_is_not_exported(students_bundle, tmp_path, monkeypatch):
    import mlcore.onnx_check as check

    monkeypatch.setattr(check, "ATOL", -1.0)
    path = tmp_path / "raw.onnx"
    with pytest.raises(ExportError, match="differ from the engine"):
        check.export_raw_onnx(students_bundle, path, pd.DataFrame(
            {"col0": ["M"], "col1": ["30"], "col2": ["maryland"], "col3": ["500"]}))
    assert not path.exists()


def test_bytes_for_download_without_rows(students_bundle):
    data, check = raw_onnx_bytes(students_bundle)
    assert data[:2] and check.table_rows == 0 and check.rows == check.generated_rows > 256
    assert check.labels_identical


def test_example_script_needs_nothing_of_mlcore(students_bundle, tmp_path):
    path = tmp_path / "raw.onnx"
    export_raw_onnx(students_bundle, path, read_table(DATA / "students_test.tsv").frame
                    .set_axis(students_bundle.schema.names, axis=1))
    # -I: isolated mode, so neither the repo nor PYTHONPATH is importable: no mlcore at all
    out = subprocess.run([sys.executable, "-I", str(ROOT / "examples" / "predict_onnx.py"),
                          str(path), str(DATA / "students_test.tsv"), "--json"],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    got = [json.loads(line) for line in out.stdout.splitlines()]
    test = read_table(DATA / "students_test.tsv", names=students_bundle.schema.names).frame
    expected = Predictor(students_bundle).predict(test)
    assert [g["label"] for g in got] == expected.labels
    probs = np.array([[g["probabilities"][c] for c in expected.class_names] for g in got])
    np.testing.assert_allclose(probs, expected.probabilities, atol=1e-5)


def _shops_table(with_dates: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    rows = 600
    frame = pd.DataFrame({
        "amount": rng.uniform(0, 100, rows).round(2).astype(str),
        "shop": [f"s{min(int(v), 200)}" for v in rng.pareto(1.1, rows) * 3],
        "grade": rng.choice(["a", "b"], rows)}, dtype="str")
    if with_dates:
        frame.insert(1, "when", [f"2024-{m:02d}-03" for m in rng.integers(1, 13, rows)])
    frame.index = pd.RangeIndex(1, rows + 1, name="row")
    return frame


def test_top_k_columns_send_unseen_categories_to_other(tmp_path):
    frame = _shops_table()
    schema = infer_schema(frame, "grade").with_column("shop", max_levels=5)
    bundle = fit(prepare(frame, schema), ModelConfig(hidden=(8,)), QUICK).bundle
    assert "(other)" in bundle.encoder.columns[1].levels
    path = tmp_path / "raw.onnx"
    export_raw_onnx(bundle, path, frame)  # the parity check passes on the table
    rows = pd.DataFrame({"amount": ["5", "50"], "shop": ["never-seen", "s0"]})
    label, probabilities, unknown = run_graph(path, bundle, rows)
    expected = Predictor(bundle).predict(rows, unknown="zeros", strict=False)
    np.testing.assert_allclose(probabilities, expected.probabilities, atol=1e-5)
    assert unknown.tolist() == [0, 0] and not expected.problems  # 'other' is not unknown


def test_a_datetime_column_is_refused_in_one_sentence(tmp_path):
    frame = _shops_table(with_dates=True)
    schema = infer_schema(frame, "grade")
    assert schema.column("when").kind == "datetime"
    bundle = fit(prepare(frame, schema), ModelConfig(hidden=(8,)), QUICK).bundle
    with pytest.raises(ExportError, match="cannot read dates, and 'when' is a datetime column"):
        export_raw_onnx(bundle, tmp_path / "raw.onnx", frame)
    assert not (tmp_path / "raw.onnx").exists()
