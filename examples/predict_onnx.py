"""Predict with a Classifier Studio raw-input ONNX model, using only onnxruntime and numpy.

    python examples/predict_onnx.py model.onnx rows.tsv [--json]

rows.tsv: tab-, comma- or semicolon-separated raw rows as in the training file, with or without
a header line and with or without the label column. The model carries its own preprocessing
(scaling, one-hot, imputation) and the column list in its metadata, so nothing else is needed.
"""
import csv
import json
import sys

import numpy as np
import onnxruntime

MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}


def read_rows(path):
    """Non-blank, non-comment lines split on the delimiter that splits them all alike."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        lines = [line for line in handle.read().splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
    for delimiter in ("\t", ",", ";"):
        rows = [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]
        if len(rows[0]) > 1 and len({len(row) for row in rows}) == 1:
            return rows
    return [line.split() for line in lines]


def number(cell, row, column):
    """A numeric cell as a float (NaN when missing: the model imputes it)."""
    if cell.lower() in MISSING:
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        sys.exit(f"row {row}, column '{column}': '{cell}' is not a number")


def main(model_path, data_path, as_json=False):
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    columns = json.loads(meta["columns"])        # feature columns: name, input, dtype
    all_columns = json.loads(meta["all_columns"])  # every column of the training file
    class_names = json.loads(meta["class_names_json"])
    features = [c["name"] for c in columns]
    rows = read_rows(data_path)
    if set(features) <= set(rows[0]):  # a header line names the columns
        names, rows = rows[0], rows[1:]
    elif len(rows[0]) == len(all_columns):
        names = all_columns
    elif len(rows[0]) == len(features):
        names = features
    else:
        sys.exit(f"{data_path}: expected {len(all_columns)} or {len(features)} columns, "
                 f"found {len(rows[0])}")
    feeds = {}
    for column in columns:
        cells = [row[names.index(column["name"])] for row in rows]
        if column["dtype"] == "float32":
            values = [number(c, i, column["name"]) for i, c in enumerate(cells, 1)]
            feeds[column["input"]] = np.array(values, dtype=np.float32).reshape(-1, 1)
        else:
            values = ["" if c.lower() in MISSING else c for c in cells]
            feeds[column["input"]] = np.array(values, dtype=object).reshape(-1, 1)
    labels, probabilities, unknown = session.run(
        ["label", "probabilities", "unknown_categories"], feeds)
    for i, (label, probs, n_unknown) in enumerate(zip(labels, probabilities, unknown), 1):
        if as_json:
            print(json.dumps({"row": i, "label": str(label), "unknown_categories": int(n_unknown),
                              "probabilities": dict(zip(class_names, map(float, probs)))}))
        else:
            shown = "  ".join(f"{name} {p:.4f}" for name, p in zip(class_names, probs))
            note = f"  ({n_unknown} unseen categories)" if n_unknown else ""
            print(f"row {i}: {label}   [{shown}]{note}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], "--json" in sys.argv[3:])
