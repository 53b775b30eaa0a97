"""Python snippets shown on the Export page: how to use each download outside the app.

Plain text builders (bundle and an example row in, code out); each snippet prints or leaves
`probabilities` for the example row, and the tests run them against the real downloads.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlcore.bundle import Bundle
from mlcore.encoder import MISSING_LEVEL
from mlcore.model import ACTIVATIONS
from mlcore.onnx_raw import input_names
from mlcore.schema import numeric_values


def example_row(bundle: Bundle, rows: pd.DataFrame | None) -> dict[str, Any]:
    """The first test row's raw feature values, or typical values without rows."""
    columns = bundle.encoder.columns
    if rows is not None and len(rows):
        return {c.name: rows.iloc[0][c.name] for c in columns}
    return {c.name: (c.fill if c.kind == "numeric" else
                     next(level for level in c.levels if level != MISSING_LEVEL))
            for c in columns}


def _number(value: Any) -> float | None:
    number = float(numeric_values(pd.Series([value], dtype=object)).iloc[0])
    return None if number != number else number


def row_literal(bundle: Bundle, row: dict[str, Any]) -> str:
    """The row as a Python dict literal: numbers for numeric columns, else strings."""
    parts = []
    for c in bundle.encoder.columns:
        value = row[c.name]
        if c.kind == "numeric":
            number = None if value is None else _number(value)
            text = "None" if number is None else \
                repr(int(number)) if number.is_integer() else repr(number)
        else:
            text = "None" if value is None else repr(str(value))
        parts.append(f"{c.name!r}: {text}")
    return "{" + ", ".join(parts) + "}"


def mlcore_snippet(file_name: str, row: str) -> str:
    return f'''from mlcore.bundle import load_bundle
from mlcore.predict import Predictor

predictor = Predictor(load_bundle("{file_name}"))
result = predictor.predict([{row}])
print(result.labels[0], dict(zip(result.class_names, result.probabilities[0])))
'''


def onnx_raw_snippet(bundle: Bundle, row: str) -> str:
    """onnxruntime + numpy on the raw-input graph: one [1, 1] input per column."""
    names = input_names(bundle)
    feeds = ",\n    ".join(
        f'"{names[c.name]}": np.array([[row[{c.name!r}]]], dtype='
        + ("np.float32)" if c.kind == "numeric" else "object)")
        for c in bundle.encoder.columns)
    return f'''import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("model.onnx")
row = {row}
# one input per column, shape [rows, 1]: float32 for numbers (NaN = missing),
# strings for categories ("" = missing)
feeds = {{
    {feeds},
}}
labels, probabilities, unknown = session.run(None, feeds)
print(labels[0], dict(zip({list(bundle.class_names)!r}, probabilities[0])))
if unknown[0]:
    print(unknown[0], "categories were not seen in training (encoded as all zeros)")
'''


def pytorch_snippet(bundle: Bundle, row: str, encoded: np.ndarray) -> str:
    """Plain PyTorch: the network definition that fits model.pt, on encoded features."""
    config = bundle.model_config
    layers, width = [], bundle.encoder.n_features
    for size in config.hidden:
        layers.append(f"nn.Linear({width}, {size}), nn.{ACTIVATIONS[config.activation].__name__}(),")
        if config.dropout:
            layers.append(f"nn.Dropout({config.dropout}),")
        width = size
    outputs = config.outputs(len(bundle.class_names))
    layers.append(f"nn.Linear({width}, {outputs}),")
    to_probabilities = ("p = torch.sigmoid(logits)[:, 0]\n"
                        "probabilities = torch.stack([1 - p, p], 1)"
                        if outputs == 1 else "probabilities = torch.softmax(logits, dim=1)")
    body = "\n    ".join(layers)
    features = ", ".join(f"{round(float(v), 6)!r}" for v in encoded)
    return f'''import torch
from torch import nn

model = nn.Sequential(
    {body}
)
model.load_state_dict(torch.load("model.pt", weights_only=True))
model.eval()
# {row}
features = torch.tensor([[{features}]])
with torch.inference_mode():
    logits = model(features)
{to_probabilities}
print(dict(zip({list(bundle.class_names)!r}, probabilities[0].tolist())))
'''


def onnx_features_snippet(file_name: str, row: str) -> str:
    """onnxruntime + numpy on the network-only graph, encoding with bundle.json."""
    return f'''import json
import zipfile

import numpy as np
import onnxruntime as ort

meta = json.loads(zipfile.ZipFile("{file_name}").read("bundle.json"))


def encode(row):
    """Raw values -> the numbers the network takes, as bundle.json["encoder"] says."""
    out = []
    for c in meta["encoder"]["columns"]:
        value = row.get(c["name"])
        if c["kind"] == "numeric":  # scaled; a missing value takes the training median
            x = c["fill"] if value is None else float(value)
            out.append((x - c["center"]) / c["scale"])
        elif c["kind"] == "binary":  # first level -1, second +1, missing 0
            out.append({{c["levels"][0]: -1.0, c["levels"][1]: 1.0}}.get(str(value), 0.0))
        else:  # one-hot over the levels seen in training
            text = "{MISSING_LEVEL}" if value is None else str(value)
            out += [1.0 if text == level else 0.0 for level in c["levels"]]
    return out


session = ort.InferenceSession("model-features.onnx")
features = np.array([encode({row})], dtype=np.float32)
probabilities = session.run(["probabilities"], {{"features": features}})[0]
print(dict(zip(meta["class_names"], probabilities[0])))
'''
