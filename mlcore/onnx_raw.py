"""One ONNX graph from a raw row to label and probabilities: the encoder compiled into the
graph, so the file needs nothing else (no hand-made preprocessing, no silent mismatches).

Inputs: one per feature column, shape [batch, 1], float32 for numeric columns (NaN = missing)
and string for categorical and binary ones (an empty string = missing). Outputs: `label`
(string [batch], by the bundle's decision rule and threshold), `probabilities` (float32
[batch, classes]) and `unknown_categories` (int64 [batch]: how many of the row's categories
were never seen in training; they are encoded as all zeros, as the engine's unknown='zeros'
does). Every internal name starts with INTERNAL, which no input name can, so no column name
can clash with the graph's own.
"""
from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

from .bundle import Bundle
from .encoder import MISSING_LEVEL, OTHER_LEVEL, ColumnEncoding
from .onnx_export import IR_VERSION, OPSET, ExportError, finalize, metadata, mlp_graph_parts
from .table import MISSING_SPELLINGS

ML_OPSET = 3         # ai.onnx.ml LabelEncoder with string keys
INTERNAL = "cs__"    # prefix of every internal tensor name
OUTPUTS = ("label", "probabilities", "unknown_categories")
MISSING_NO_LEVEL = -2  # missing, and training had no missing level: all zeros, not unknown


def check_exportable(bundle: Bundle) -> None:
    """Refuse, in one sentence, a model the raw graph cannot encode: ONNX has no parser
    for dates, so a datetime column's parts would have to be computed outside it."""
    dates = [c.name for c in bundle.encoder.columns if c.kind == "datetime"]
    if dates:
        raise ExportError(f"the raw-input ONNX file cannot read dates, and "
                          f"{', '.join(map(repr, dict.fromkeys(dates)))} is a datetime column; "
                          "use the network-only ONNX file (encoded features in) or the bundle, "
                          "or leave the column out and train again")


def input_names(bundle: Bundle) -> dict[str, str]:
    """Column name -> graph input name: a valid identifier, unique, never an output name
    and never starting with the internal prefix."""
    check_exportable(bundle)
    names: dict[str, str] = {}
    for c in bundle.encoder.columns:
        base = re.sub(r"\W", "_", c.name) or "column"
        if base[0].isdigit() or base.startswith(INTERNAL):
            base = f"c_{base}"
        name, k = base, 2
        while name in names.values() or name in OUTPUTS:
            name, k = f"{base}_{k}", k + 1
        names[c.name] = name
    return names


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _numeric(c: ColumnEncoding, x: str, out: str, nodes: list, weights: list) -> None:
    """NaN -> training median, then (x - center) / scale, as Encoder does."""
    weights += [_const(f"{out}_fill", np.array([c.fill], np.float32)),
                _const(f"{out}_center", np.array([c.center], np.float32)),
                _const(f"{out}_scale", np.array([c.scale], np.float32))]
    nodes += [helper.make_node("IsNaN", [x], [f"{out}_nan"]),
              helper.make_node("Where", [f"{out}_nan", f"{out}_fill", x], [f"{out}_filled"]),
              helper.make_node("Sub", [f"{out}_filled", f"{out}_center"], [f"{out}_centred"]),
              helper.make_node("Div", [f"{out}_centred", f"{out}_scale"], [out])]


def _codes(c: ColumnEncoding) -> tuple[list[str], list[int]]:
    """LabelEncoder keys and codes: each level its index (the missing level under its own
    name and every missing spelling); anything else gets the LabelEncoder's default: the
    'other' level of a top-K column, else -1 (unknown)."""
    missing = c.levels.index(MISSING_LEVEL) if MISSING_LEVEL in c.levels else MISSING_NO_LEVEL
    keys = list(c.levels)
    values = [i if level != MISSING_LEVEL else missing for i, level in enumerate(c.levels)]
    for spelling in MISSING_SPELLINGS:
        if spelling not in keys:
            keys.append(spelling)
            values.append(missing)
    return keys, values


def _levels(c: ColumnEncoding, x: str, out: str, nodes: list, weights: list) -> str:
    """Vocabulary lookup: one-hot (categorical) or -1/+1 (binary); returns the name of a
    [batch, 1] int64 tensor that is 1 where the category is unknown."""
    keys, values = _codes(c)
    default = c.levels.index(OTHER_LEVEL) if OTHER_LEVEL in c.levels else -1
    nodes.append(helper.make_node("LabelEncoder", [x], [f"{out}_code"], domain="ai.onnx.ml",
                                  keys_strings=keys, values_int64s=values,
                                  default_int64=default))
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


def _decision(bundle: Bundle, probabilities: str, nodes: list, weights: list) -> None:
    """`label` from `probabilities` by decision.decide: P(class 1) >= threshold for two
    classes, else the most probable class."""
    p = INTERNAL
    weights.append(_const(f"{p}class_names", np.array(bundle.class_names, dtype=object)))
    if len(bundle.class_names) == 2:
        weights += [_const(f"{p}one", np.array([1], np.int64)),
                    _const(f"{p}two", np.array([2], np.int64)),
                    _const(f"{p}threshold", np.array(bundle.threshold, np.float32))]
        nodes += [helper.make_node("Slice", [probabilities, f"{p}one", f"{p}two", f"{p}one"],
                                   [f"{p}positive"]),
                  helper.make_node("GreaterOrEqual", [f"{p}positive", f"{p}threshold"],
                                   [f"{p}chosen_b"]),
                  helper.make_node("Cast", [f"{p}chosen_b"], [f"{p}chosen"],
                                   to=TensorProto.INT64),
                  helper.make_node("Squeeze", [f"{p}chosen", f"{p}one"], [f"{p}class_index"])]
    else:
        nodes.append(helper.make_node("ArgMax", [probabilities], [f"{p}class_index"], axis=1,
                                      keepdims=0))
    nodes.append(helper.make_node("Gather", [f"{p}class_names", f"{p}class_index"], ["label"],
                                  axis=0))


def _unknown_count(unknown: list[str], first_input: str, nodes: list, weights: list) -> None:
    """`unknown_categories` [batch]: the per-column unknown flags summed, or zeros of the
    batch's length when there is no categorical column."""
    p = INTERNAL
    if unknown:
        weights.append(_const(f"{p}row_axis", np.array([1], np.int64)))
        nodes += [helper.make_node("Concat", unknown, [f"{p}unknown_matrix"], axis=1),
                  helper.make_node("ReduceSum", [f"{p}unknown_matrix", f"{p}row_axis"],
                                   ["unknown_categories"], keepdims=0)]
        return
    nodes += [helper.make_node("Shape", [first_input], [f"{p}batch"], start=0, end=1),
              helper.make_node("ConstantOfShape", [f"{p}batch"], ["unknown_categories"],
                               value=helper.make_tensor("zero", TensorProto.INT64, [1], [0]))]


def raw_model(bundle: Bundle) -> onnx.ModelProto:
    """The whole pipeline as one ONNX model (see the module docstring for its interface)."""
    names = input_names(bundle)
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    inputs, encoded, unknown = [], [], []
    for i, c in enumerate(bundle.encoder.columns):
        x = names[c.name]
        kind = TensorProto.FLOAT if c.kind == "numeric" else TensorProto.STRING
        inputs.append(helper.make_tensor_value_info(x, kind, ["batch", 1]))
        out = f"{INTERNAL}enc{i}"
        if c.kind == "numeric":
            _numeric(c, x, out, nodes, weights)
        else:
            unknown.append(_levels(c, x, out, nodes, weights))
        encoded.append(out)
    features = f"{INTERNAL}features"
    nodes.append(helper.make_node("Concat", encoded, [features], axis=1))
    mlp_nodes, mlp_weights, probabilities = mlp_graph_parts(bundle.build_model(), features,
                                                            f"{INTERNAL}mlp")
    nodes += mlp_nodes + [helper.make_node("Identity", [probabilities], ["probabilities"])]
    weights += mlp_weights
    _decision(bundle, probabilities, nodes, weights)
    _unknown_count(unknown, inputs[0].name, nodes, weights)
    k = len(bundle.class_names)
    graph = helper.make_graph(nodes, "classifier_raw", inputs, [
        helper.make_tensor_value_info("label", TensorProto.STRING, ["batch"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", k]),
        helper.make_tensor_value_info("unknown_categories", TensorProto.INT64, ["batch"])],
        weights)
    model = finalize(graph, bundle, [("", OPSET), ("ai.onnx.ml", ML_OPSET)])
    helper.set_model_props(model, {**metadata(bundle), **raw_metadata(bundle, names)})
    return model


def decision_rule(bundle: Bundle) -> str:
    """The decision rule in words, as stored in the file's metadata."""
    names = bundle.class_names
    if len(names) == 2:
        return (f"{names[1]} when probabilities[:, 1] >= {bundle.threshold:g}, "
                f"else {names[0]}")
    return "the class with the highest probability"


def raw_metadata(bundle: Bundle, names: dict[str, str]) -> dict[str, str]:
    """What a program needs to feed the graph, as JSON strings in metadata_props."""
    columns = [{"name": c.name, "input": names[c.name], "kind": c.kind,
                "dtype": "float32" if c.kind == "numeric" else "string"}
               for c in bundle.encoder.columns]
    return {"columns": json.dumps(columns),
            "all_columns": json.dumps(bundle.schema.names),
            "label_column": bundle.encoder.label,
            "class_names_json": json.dumps(bundle.class_names),
            "threshold": json.dumps(bundle.threshold if len(bundle.class_names) == 2
                                    else None),
            "decision_rule": decision_rule(bundle),
            "encoder": json.dumps(bundle.encoder.to_dict()),
            "metrics": json.dumps({part: {k: m.get(k) for k in ("accuracy", "n", "n_correct",
                                                                 "log_loss")}
                                   for part, m in bundle.metrics.items()
                                   if part in ("train", "validation", "test")}),
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
