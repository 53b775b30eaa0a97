"""The raw ONNX file labels every row as the engine does, on generated tables of the shapes
real ones have: all numeric, all categorical, mixed, one feature, hundreds of categories,
NAs in every column, 4-digit and 1e-6 values, columns named like graph internals; for a
batch of 1 and of many, from a folder and from a zip, at a saved threshold."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime
import pandas as pd
import pytest

from mlcore.bundle import bundle_from_zip, bundle_to_zip, load_bundle, save_bundle
from mlcore.decision import margin
from mlcore.model import ModelConfig
from mlcore.onnx_check import ATOL, export_raw_onnx
from mlcore.onnx_raw import input_names, raw_feeds
from mlcore.predict import Predictor
from mlcore.schema import infer_schema
from mlcore.training import TrainConfig
from mlcore.workflow import fit, prepare

from conftest import ROOT

ROWS = 400
GRAPH_NAMES = ["features", "label", "probabilities", "class_names", "row_axis",
               "unknown_categories", "cs__enc0", "2nd col", "a-b"]


def _numbers(rng, scale: float, offset: float = 0.0, na: float = 0.0) -> list:
    values = [f"{v:.6g}" for v in rng.normal(offset, scale, ROWS)]
    return [None if rng.random() < na else v for v in values]


def _categories(rng, levels: int, na: float = 0.0) -> list:
    picks = rng.integers(0, levels, ROWS)
    return [None if rng.random() < na else f"c{v}" for v in picks]


def _label(rng, score: np.ndarray, classes: int) -> list:
    noisy = score + rng.normal(0, 0.5, ROWS)
    cuts = np.quantile(noisy, np.linspace(0, 1, classes + 1)[1:-1])
    return [f"k{v}" for v in np.searchsorted(cuts, noisy)]


def make_table(kind: str, seed: int = 0) -> pd.DataFrame:
    """A deterministic table of the named shape, label column 'y'."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {}
    if kind == "numeric":  # 13 numeric columns: 4-digit, tiny (1e-6) and ordinary values
        for i in range(13):
            scale, offset = [(300.0, 4200.0), (1e-6, 3e-6), (1.0, 0.0)][i % 3]
            cols[f"n{i}"] = _numbers(rng, scale, offset, na=0.05)
    elif kind == "categorical":  # hundreds of categories, a binary column, NAs
        cols = {"city": _categories(rng, 300, 0.05), "shop": _categories(rng, 12, 0.1),
                "flag": [rng.choice(["yes", "no"]) for _ in range(ROWS)]}
    elif kind == "mixed":
        cols = {"age": _numbers(rng, 12, 40), "sex": [rng.choice(["M", "F"]) for _ in range(ROWS)],
                "state": _categories(rng, 7), "income": _numbers(rng, 20000, 60000, 0.1)}
    elif kind == "one":
        cols = {"x": _numbers(rng, 1.0)}
    elif kind == "all_na":  # a missing value in every column
        cols = {"a": _numbers(rng, 5, 100, 0.3), "b": _categories(rng, 5, 0.3),
                "c": [None if rng.random() < 0.3 else rng.choice(["p", "q"])
                      for _ in range(ROWS)]}
    elif kind == "graph_names":
        for i, name in enumerate(GRAPH_NAMES):
            cols[name] = _numbers(rng, 3.0) if i % 2 else _categories(rng, 4)
    frame = pd.DataFrame(cols, dtype=object)
    score = np.zeros(ROWS)
    for values in cols.values():
        numeric = pd.to_numeric(pd.Series(values), errors="coerce")
        if numeric.notna().any():
            score += ((numeric - numeric.mean()) / (numeric.std() or 1)).fillna(0).to_numpy()
        else:
            score += pd.Series(values).fillna("").map(hash).mod(3).to_numpy() - 1
    frame["y"] = _label(rng, score, 2 if kind in ("numeric", "one", "graph_names") else 3)
    frame.index = pd.RangeIndex(2, ROWS + 2, name="line")
    return frame


def trained(kind: str):
    frame = make_table(kind)
    schema = infer_schema(frame, "y")
    for spec in schema.columns:  # every non-label column is a feature, as generated
        if spec.name != "y" and spec.role == "ignore":
            spec.role = "feature"
    prepared = prepare(frame, schema)
    bundle = fit(prepared, ModelConfig(hidden=(12,)),
                 TrainConfig(epochs=15, batch_size=32, device="cpu")).bundle
    if len(bundle.class_names) == 2:
        bundle = bundle.with_threshold(0.37)
    return bundle, frame


KINDS = ["numeric", "categorical", "mixed", "one", "all_na", "graph_names"]


@pytest.fixture(scope="module", params=KINDS)
def case(request):
    return (request.param, *trained(request.param))


def graph_outputs(path, bundle, rows):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, raw_feeds(bundle, Predictor(bundle).to_frame(rows)))


def test_labels_equal_the_engine_on_every_row_batch_of_one_and_many(case, tmp_path):
    kind, bundle, frame = case
    path = tmp_path / "raw.onnx"
    check = export_raw_onnx(bundle, path, frame)
    assert check.table_rows == ROWS and check.labels_identical, check.summary()
    expected = Predictor(bundle).predict(frame, unknown="zeros", strict=False)
    labels, probabilities, unknown = graph_outputs(path, bundle, frame)
    assert labels.shape == (ROWS,) and unknown.shape == (ROWS,)
    tie = margin(expected.probabilities, bundle.threshold) <= ATOL
    agree = np.array([str(g) == e for g, e in zip(labels, expected.labels)])
    assert (agree | tie).all() and agree.mean() > 0.99
    for i in range(5):  # batch of one
        one = frame.iloc[[i]]
        label, probs, unk = graph_outputs(path, bundle, one)
        assert label.shape == (1,) and probs.shape == (1, len(bundle.class_names))
        assert unk.shape == (1,) and str(label[0]) == expected.labels[i]


def test_saved_threshold_decides_in_the_graph(case, tmp_path):
    kind, bundle, frame = case
    if len(bundle.class_names) != 2:
        pytest.skip("a threshold is for two classes")
    path = tmp_path / "raw.onnx"
    export_raw_onnx(bundle, path, frame)
    labels, probabilities, _ = graph_outputs(path, bundle, frame)
    decided = np.where(probabilities[:, 1] >= 0.37, bundle.class_names[1], bundle.class_names[0])
    assert [str(v) for v in labels] == decided.tolist()


def test_folder_and_zip_export_alike(case, tmp_path):
    kind, bundle, frame = case
    save_bundle(bundle, tmp_path / "b")
    from_dir, from_zip = load_bundle(tmp_path / "b"), bundle_from_zip(bundle_to_zip(bundle))
    checks = [export_raw_onnx(b, tmp_path / f"{i}.onnx").to_dict()
              for i, b in enumerate((from_dir, from_zip))]
    assert checks[0] == checks[1] and checks[0]["labels_identical"]
    assert (tmp_path / "0.onnx").read_bytes() == (tmp_path / "1.onnx").read_bytes()


@pytest.mark.parametrize("rows", [1, 7, 10_000])
def test_all_numeric_outputs_keep_the_batch(rows, tmp_path):
    bundle, frame = trained("numeric")
    path = tmp_path / "raw.onnx"
    export_raw_onnx(bundle, path)
    batch = frame.sample(rows, replace=True, random_state=0)
    labels, probabilities, unknown = graph_outputs(path, bundle, batch)
    assert labels.shape == (rows,) and probabilities.shape == (rows, 2)
    assert unknown.shape == (rows,) and not unknown.any()


def test_graph_names_become_safe_inputs():
    bundle, _ = trained("graph_names")
    names = input_names(bundle)
    assert names["label"] == "label_2" and names["probabilities"] == "probabilities_2"
    assert names["cs__enc0"] == "c_cs__enc0" and names["2nd col"] == "c_2nd_col"
    assert names["features"] == "features" and names["a-b"] == "a_b"


def test_example_script_prints_every_row_of_an_all_numeric_model(tmp_path):
    bundle, frame = trained("numeric")
    path = tmp_path / "raw.onnx"
    export_raw_onnx(bundle, path)
    rows = tmp_path / "rows.csv"
    rows.write_text(frame.head(7).drop(columns="y").fillna("").to_csv(index=False))
    out = subprocess.run([sys.executable, "-I", str(ROOT / "examples" / "predict_onnx.py"),
                          str(path), str(rows), "--json"], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    got = [json.loads(line)["label"] for line in out.stdout.splitlines()]
    assert got == Predictor(bundle).predict(frame.head(7)).labels
