"""One ONNX graph from a raw row to label and probabilities: the encoder compiled into the
graph, so the file needs nothing else (no hand-made preprocessing, no silent mismatches).

Inputs: one per feature column, shape [batch, 1], float32 for numeric columns (NaN = missing)
and string for categorical and binary ones (an empty string = missing). Outputs: `label`
(string [batch]), `probabilities` (float32 [batch, classes]) and `unknown_categories`
(int64 [batch]: how many of the row's categories were never seen in training; they are
encoded as all zeros, as the engine's unknown='zeros' does).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

from .bundle import Bundle
from .encoder import MISSING_LEVEL, ColumnEncoding
from .onnx_export import (IR_VERSION, OPSET, ExportError, as_bytes, finalize, metadata,
                          mlp_graph_parts, sample_rows)
from .predict import Predictor
from .table import MISSING_TOKENS

ML_OPSET = 3         # ai.onnx.ml LabelEncoder with string keys
TOLERANCE = 1e-5
# spellings of a missing value the graph recognises, as the reader does case-insensitively
MISSING_SPELLINGS = sorted({s for t in MISSING_TOKENS for s in (t, t.upper(), t.title())})
MISSING_NO_LEVEL = -2  # missing, and training had no missing level: all zeros, not unknown


def input_names(bundle: Bundle) -> dict[str, str]:
    """Column name -> graph input name (a valid identifier, unique)."""
    names: dict[str, str] = {}
    for c in bundle.encoder.columns:
        base = re.sub(r"\W", "_", c.name) or "column"
        base = f"c_{base}" if base[0].isdigit() else base
        name, k = base, 2
        while name in names.values() or name in ("label", "probabilities",
                                                  "unknown_categories"):
            name, k = f"{base}_{k}", k + 1
        names[c.name] = name
    return names


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _numeric(c: ColumnEncoding, x: str, out: str, nodes: list, weights: list) -> None:
    """NaN -> training median, then (x - center) / scale."""
    weights += [_const(f"{out}_fill", np.array([c.fill], np.float32)),
                _const(f"{out}_center", np.array([c.center], np.float32)),
                _const(f"{out}_scale", np.array([c.scale], np.float32))]
    nodes += [helper.make_node("IsNaN", [x], [f"{out}_nan"]),
              helper.make_node("Where", [f"{out}_nan", f"{out}_fill", x], [f"{out}_filled"]),
              helper.make_node("Sub", [f"{out}_filled", f"{out}_center"], [f"{out}_centred"]),
              helper.make_node("Div", [f"{out}_centred", f"{out}_scale"], [out])]


def _levels(c: ColumnEncoding, x: str, out: str, nodes: list, weights: list) -> str:
    """Vocabulary lookup: one-hot (categorical) or -1/+1 (binary); returns the name of a
    [batch, 1] int64 tensor that is 1 where the category is unknown."""
    known = [level for level in c.levels if level != MISSING_LEVEL]
    missing = c.levels.index(MISSING_LEVEL) if MISSING_LEVEL in c.levels else MISSING_NO_LEVEL
    keys = known + [s for s in MISSING_SPELLINGS if s not in known]
    values = list(range(len(known))) + [missing] * (len(keys) - len(known))
    nodes.append(helper.make_node("LabelEncoder", [x], [f"{out}_code"], domain="ai.onnx.ml",
                                  keys_strings=keys, values_int64s=values, default_int64=-1))
    weights += [_const(f"{out}_range", np.arange(len(c.levels), dtype=np.int64)[None, :]),
                _const(f"{out}_unknown_code", np.array([[-1]], np.int64))]
    nodes += [helper.make_node("Equal", [f"{out}_code", f"{out}_range"], [f"{out}_hot_b"]),
              helper.make_node("Cast", [f"{out}_hot_b"], [f"{out}_hot"], to=TensorProto.FLOAT),
              helper.make_node("Equal", [f"{out}_code", f"{out}_unknown_code"],
                               [f"{out}_unk_b"]),
              helper.make_node("Cast", [f"{out}_unk_b"], [f"{out}_unknown"],
                               to=TensorProto.INT64)]
    if c.kind == "binary":  # [is level 0, is level 1] @ [-1, +1]
        weights.append(_const(f"{out}_signs", np.array([[-1.0], [1.0]], np.float32)))
        nodes.append(helper.make_node("MatMul", [f"{out}_hot", f"{out}_signs"], [out]))
    else:
        nodes.append(helper.make_node("Identity", [f"{out}_hot"], [out]))
    return f"{out}_unknown"


def raw_model(bundle: Bundle) -> onnx.ModelProto:
    """The whole pipeline as one ONNX model (see the module docstring for its interface)."""
    names = input_names(bundle)
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    inputs, encoded, unknown = [], [], []
    for c in bundle.encoder.columns:
        x = names[c.name]
        kind = TensorProto.FLOAT if c.kind == "numeric" else TensorProto.STRING
        inputs.append(helper.make_tensor_value_info(x, kind, ["batch", 1]))
        out = f"enc_{x}"
        if c.kind == "numeric":
            _numeric(c, x, out, nodes, weights)
        else:
            unknown.append(_levels(c, x, out, nodes, weights))
        encoded.append(out)
    nodes.append(helper.make_node("Concat", encoded, ["features"], axis=1))
    mlp_nodes, mlp_weights, probabilities = mlp_graph_parts(bundle.build_model(), "features")
    nodes += mlp_nodes
    weights += mlp_weights
    weights += [_const("class_names", np.array(bundle.class_names, dtype=object)),
                _const("row_axis", np.array([1], np.int64))]
    nodes += [helper.make_node("Identity", [probabilities], ["probabilities"]),
              helper.make_node("ArgMax", ["probabilities"], ["class_index"], axis=1,
                               keepdims=0),
              helper.make_node("Gather", ["class_names", "class_index"], ["label"], axis=0)]
    if unknown:
        nodes += [helper.make_node("Concat", unknown, ["unknown_matrix"], axis=1),
                  helper.make_node("ReduceSum", ["unknown_matrix", "row_axis"],
                                   ["unknown_categories"], keepdims=0)]
    else:
        weights.append(_const("no_columns", np.zeros((1, 1), np.int64)))
        nodes += [helper.make_node("Mul", ["class_index", "no_columns"], ["unknown_wide"]),
                  helper.make_node("ReduceSum", ["unknown_wide", "row_axis"],
                                   ["unknown_categories"], keepdims=0)]
    k = len(bundle.class_names)
    graph = helper.make_graph(nodes, "classifier_raw", inputs, [
        helper.make_tensor_value_info("label", TensorProto.STRING, ["batch"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", k]),
        helper.make_tensor_value_info("unknown_categories", TensorProto.INT64, ["batch"])],
        weights)
    model = finalize(graph, bundle, [("", OPSET), ("ai.onnx.ml", ML_OPSET)])
    helper.set_model_props(model, {**metadata(bundle), **raw_metadata(bundle, names)})
    return model


def raw_metadata(bundle: Bundle, names: dict[str, str]) -> dict[str, str]:
    """What a program needs to feed the graph, as JSON strings in metadata_props."""
    columns = [{"name": c.name, "input": names[c.name], "kind": c.kind,
                "dtype": "float32" if c.kind == "numeric" else "string"}
               for c in bundle.encoder.columns]
    return {"columns": json.dumps(columns),
            "all_columns": json.dumps(bundle.schema.names),
            "label_column": bundle.encoder.label,
            "class_names_json": json.dumps(bundle.class_names),
            "encoder": json.dumps(bundle.encoder.to_dict()),
            "metrics": json.dumps({part: {k: m.get(k) for k in ("accuracy", "n", "n_correct",
                                                                 "log_loss")}
                                   for part, m in bundle.metrics.items()}),
            "versions": json.dumps({**bundle.versions, "onnx": onnx.__version__}),
            "opsets": f"ai.onnx {OPSET}, ai.onnx.ml {ML_OPSET}, IR {IR_VERSION}"}


def raw_feeds(bundle: Bundle, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Graph inputs from raw cells (strings as read from a file, None for missing)."""
    names = input_names(bundle)
    feeds = {}
    for c in bundle.encoder.columns:
        cells = frame[c.name]
        if c.kind == "numeric":
            values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float32)
        else:
            values = np.array(["" if v is None or v != v else str(v) for v in cells],
                              dtype=object)
        feeds[names[c.name]] = values.reshape(-1, 1)
    return feeds


@dataclass
class RawParityCheck:
    """How the raw graph's answers compare with the engine's on the same raw rows."""

    rows: int
    labels_identical: bool
    max_abs_diff: float
    unknown_rows: int
    onnxruntime_version: str

    def summary(self) -> str:
        return (f"onnxruntime {self.onnxruntime_version} on {self.rows} raw rows: labels "
                f"{'identical' if self.labels_identical else 'DIFFER'} to the engine's, max "
                f"|probability difference| {self.max_abs_diff:.2e}, {self.unknown_rows} rows "
                "with unseen categories")


def export_raw_onnx(bundle: Bundle, path: Path | str, frame: pd.DataFrame,
                    tolerance: float = TOLERANCE) -> RawParityCheck:
    """Write the raw-input ONNX file and check it on `frame` (raw rows, e.g. the test file)
    against Predictor(unknown='zeros'); remove the file and raise ExportError on a mismatch."""
    import onnxruntime

    path = Path(path)
    path.write_bytes(raw_model(bundle).SerializeToString())
    predictor = Predictor(bundle)
    frame = predictor.to_frame(frame)
    expected = predictor.predict(frame, unknown="zeros", strict=False)
    good = [i for i, label in enumerate(expected.labels) if label is not None]
    rows = frame.iloc[good]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    labels, probabilities, unknown = session.run(None, raw_feeds(bundle, rows))
    want = expected.probabilities[good]
    check = RawParityCheck(
        len(good), [str(v) for v in labels] == [expected.labels[i] for i in good],
        float(np.abs(probabilities - want).max()) if good else 0.0, int((unknown > 0).sum()),
        onnxruntime.__version__)
    if not check.labels_identical or check.max_abs_diff > tolerance:
        path.unlink(missing_ok=True)
        raise ExportError(f"the raw ONNX graph disagrees with the engine ({check.summary()}); "
                          "not exported")
    return check


def raw_onnx_bytes(bundle: Bundle, frame: pd.DataFrame | None = None
                   ) -> tuple[bytes, RawParityCheck]:
    """The raw-input ONNX file as bytes, checked on `frame` (raw rows) or sample_rows()."""
    rows = frame if frame is not None and len(frame) else sample_rows(bundle)
    return as_bytes(export_raw_onnx, bundle, rows)
