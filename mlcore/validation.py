"""Whether a table can be trained on with a schema, checked before anything is encoded: the
label is a class with at least two of them, each feature's values fit its kind, and the
encoded matrix (its width counted, not built) fits the memory budget."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .budget import check_memory
from .errors import SchemaError, TableError
from .schema import (DATETIME_PARTS, KINDS, ColumnSpec, Schema, check_label, datetime_values,
                     numeric_values, with_bins)


def validate(frame: pd.DataFrame, schema: Schema, source: str | None = None) -> None:
    """Check the schema can train on this frame: a label that is a class with >= 2 of them,
    parseable numeric columns, binary columns with two values, no free text as a feature,
    at least one feature."""
    label = schema.label
    if list(frame.columns) != schema.names:
        raise SchemaError("the schema's columns do not match the table's columns")
    labels = frame[label]
    missing = labels.isna()
    if missing.any():
        raise TableError("the label is missing; fill it in or remove the row",
                         source, int(labels.index[missing.argmax()]), label)
    check_label(labels, schema.column(label), source)
    classes = with_bins(frame[[label]], schema)[label].nunique()
    if classes < 2:
        raise TableError(f"the label column has {classes} class"
                         f"{'es' if classes != 1 else ''}; a classifier needs at least 2",
                         source, None, label)
    if not schema.features:
        left_out = [f"'{c.name}' ({c.note})" for c in schema.columns if c.role == "ignore"]
        raise SchemaError("choose at least one feature column" + (
            f": {'; '.join(left_out[:3])} {'was' if len(left_out) == 1 else 'were'} left out"
            if left_out else ""))
    for spec in schema.features:
        _validate_feature(frame[spec.name], spec, source)


def _validate_feature(column: pd.Series, spec: ColumnSpec, source: str | None) -> None:
    if spec.kind not in KINDS:
        raise SchemaError(f"column '{spec.name}': unknown kind '{spec.kind}'")
    if spec.kind == "text":
        raise SchemaError(f"column '{spec.name}' is free text, which cannot be a feature; "
                          "make it categorical (with a top-K limit) or ignore it")
    if spec.kind == "numeric":
        bad = column.notna() & numeric_values(column).isna()
        if bad.any():
            line = int(column.index[bad.argmax()])
            raise TableError(f"'{column.loc[line]}' is not a number; make the column "
                             "categorical or fix the value", source, line, spec.name)
    if spec.kind == "datetime" and datetime_values(column.dropna()).isna().all():
        raise SchemaError(f"column '{spec.name}' holds no ISO dates (2024-03-05 14:07); "
                          "make it categorical or ignore it")
    if spec.kind == "binary" and column.dropna().nunique() > 2:
        raise SchemaError(f"column '{spec.name}' has {column.dropna().nunique()} values, "
                          "so it cannot be binary; make it categorical")


def encoded_widths(frame: pd.DataFrame, schema: Schema,
                   counts: Mapping[str, tuple[int, int]] | None = None) -> dict[str, int]:
    """How many numbers each feature column becomes, from counts alone (nothing encoded);
    `counts` (missing, distinct per column) saves counting them again."""
    widths = {}
    for spec in schema.features:
        if spec.kind == "categorical":
            column = frame[spec.name]
            missing, levels = counts[spec.name] if counts else \
                (int(column.isna().sum()), column.nunique(dropna=True))
            if spec.max_levels and levels > spec.max_levels:
                levels = spec.max_levels + 1
            widths[spec.name] = int(levels + bool(missing))
        else:
            widths[spec.name] = len(DATETIME_PARTS) if spec.kind == "datetime" else 1
    return widths


def check_encoding_size(frame: pd.DataFrame, schema: Schema, rows: int | None = None,
                        counts: Mapping[str, tuple[int, int]] | None = None) -> int:
    """Estimate the encoded matrix (rows × numbers × 4 bytes, float32; `rows` defaults to
    the frame's) before encoding and refuse it over the memory budget, naming the widest
    column; returns the width."""
    widths = encoded_widths(frame, schema, counts)
    width = sum(widths.values())
    widest = max(widths, key=widths.get) if widths else ""
    rows = len(frame) if rows is None else rows
    check_memory(rows * width * 4, f"encoding {rows:,} rows × {width:,} numbers",
                 f"the widest column is '{widest}' ({widths.get(widest, 0):,} numbers): give it "
                 "fewer categories (a top-K limit) or ignore it")
    return width
