"""Per-column roles (feature, label, ignore) and kinds (numeric, categorical, binary).

Inferred from the data, then edited by the user; validated before training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from .errors import SchemaError, TableError

ROLES = ("feature", "label", "ignore")
KINDS = ("numeric", "categorical", "binary")
FEW_LEVELS = 10          # integer columns with at most this many values may be categorical
ID_LIKE_LEVELS = 50      # text columns with more distinct values than this, mostly unique, are ids


@dataclass
class ColumnSpec:
    """One column: its role, its kind and a short note on why it was inferred so."""

    name: str
    role: str = "feature"
    kind: str = "numeric"
    note: str = ""


@dataclass
class Schema:
    """The columns in file order; exactly one has role 'label'."""

    columns: list[ColumnSpec] = field(default_factory=list)

    @property
    def label(self) -> str:
        labels = [c.name for c in self.columns if c.role == "label"]
        if len(labels) != 1:
            raise SchemaError(f"choose exactly one label column (found {len(labels)})")
        return labels[0]

    @property
    def features(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.role == "feature"]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise SchemaError(f"no column named '{name}' (columns: {', '.join(self.names)})")

    def with_label(self, name: str) -> Schema:
        """A copy with `name` as the label; the old label becomes a feature."""
        self.column(name)
        return Schema([replace(c, role="label") if c.name == name else
                       replace(c, role="feature") if c.role == "label" else replace(c)
                       for c in self.columns])

    def with_column(self, name: str, **changes: str) -> Schema:
        """A copy with one column's role and/or kind changed."""
        self.column(name)
        return Schema([replace(c, **changes) if c.name == name else replace(c)
                       for c in self.columns])

    def to_dict(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        return cls([ColumnSpec(**c) for c in data["columns"]])


def numeric_values(series: pd.Series) -> pd.Series:
    """Parse a string column to floats; unparseable cells become NaN."""
    return pd.to_numeric(series, errors="coerce").astype(float)


def infer_column(series: pd.Series) -> ColumnSpec:
    """Guess the role and kind of one column from its values."""
    name = str(series.name)
    present = series.dropna()
    distinct = present.unique()
    if len(distinct) == 0:
        return ColumnSpec(name, "ignore", "numeric", "empty: every value is missing")
    if len(distinct) == 1:
        return ColumnSpec(name, "ignore", "categorical", f"constant: always '{distinct[0]}'")
    numbers = numeric_values(present)
    if numbers.notna().all():
        if len(distinct) == 2:
            return ColumnSpec(name, "feature", "binary", "two values: encoded -1/+1")
        if (numbers == numbers.round()).all() and len(distinct) <= FEW_LEVELS:
            return ColumnSpec(name, "feature", "numeric",
                              f"integers with {len(distinct)} distinct values: "
                              "could be categorical")
        return ColumnSpec(name, "feature", "numeric", "numbers")
    if len(distinct) == 2:
        return ColumnSpec(name, "feature", "binary", "two values: encoded -1/+1")
    if len(distinct) > ID_LIKE_LEVELS and len(distinct) > 0.5 * len(present):
        return ColumnSpec(name, "ignore", "categorical",
                          f"{len(distinct)} distinct texts: looks like an identifier")
    return ColumnSpec(name, "feature", "categorical", f"{len(distinct)} categories: one-hot")


def infer_schema(frame: pd.DataFrame, label: str | int | None = None) -> Schema:
    """Infer every column; the label is `label` (name or 0-based index) or the last column."""
    columns = [infer_column(frame[name]) for name in frame.columns]
    if label is None:
        label_name = frame.columns[-1]
    elif isinstance(label, int) or (isinstance(label, str) and label.isdigit()
                                    and label not in frame.columns):
        index = int(label)
        if not 0 <= index < len(frame.columns):
            raise SchemaError(f"label index {index} is out of range 0..{len(frame.columns) - 1}")
        label_name = frame.columns[index]
    else:
        label_name = label
    schema = Schema(columns)
    schema.column(str(label_name))
    return schema.with_label(str(label_name))


def validate(frame: pd.DataFrame, schema: Schema, source: str | None = None) -> None:
    """Check the schema can train on this frame: a label with >= 2 classes, parseable
    numeric columns, binary columns with two values, at least one feature."""
    label = schema.label
    if list(frame.columns) != schema.names:
        raise SchemaError("the schema's columns do not match the table's columns")
    labels = frame[label]
    missing = labels.isna()
    if missing.any():
        raise TableError("the label is missing; fill it in or remove the row",
                         source, int(labels.index[missing.argmax()]), label)
    classes = labels.unique()
    if len(classes) < 2:
        raise TableError(f"the label column has {len(classes)} class"
                         f"{'es' if len(classes) != 1 else ''}; a classifier needs at least 2",
                         source, None, label)
    if not schema.features:
        raise SchemaError("choose at least one feature column")
    for spec in schema.features:
        if spec.kind not in KINDS:
            raise SchemaError(f"column '{spec.name}': unknown kind '{spec.kind}'")
        column = frame[spec.name]
        if spec.kind == "numeric":
            bad = column.notna() & numeric_values(column).isna()
            if bad.any():
                line = int(column.index[bad.argmax()])
                raise TableError(f"'{column.loc[line]}' is not a number; make the column "
                                 "categorical or fix the value", source, line, spec.name)
        if spec.kind == "binary" and column.dropna().nunique() > 2:
            raise SchemaError(f"column '{spec.name}' has {column.dropna().nunique()} values, "
                              "so it cannot be binary; make it categorical")
