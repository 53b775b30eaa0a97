"""Turn raw table columns into float features and the label into class indices.

Fitted on the training rows only and stored as JSON. Each column's transform is a per-column
affine map (numeric, binary) or a vocabulary lookup (one-hot), so it can be compiled to ONNX.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError, SchemaError
from .schema import Schema, numeric_values

SCALINGS = ("zscore", "minmax", "divisor", "none")
UNKNOWN_POLICIES = ("error", "zeros")
MISSING_LEVEL = "(missing)"


@dataclass
class Problem:
    """One problem with one input row: an error stops that row, a warning does not."""

    row: int
    column: str
    message: str
    severity: str = "error"
    unit: str = "row"  # "line" when rows came from a file read by read_table

    def __str__(self) -> str:
        return f"{self.unit} {self.row}, column '{self.column}': {self.message}"


@dataclass
class ColumnEncoding:
    """How one feature column becomes one or more numbers."""

    name: str
    kind: str
    center: float = 0.0   # numeric: (x - center) / scale
    scale: float = 1.0
    fill: float = 0.0     # numeric: raw value put in for a missing one (training median)
    low: float = 0.0      # numeric: training range, to warn about far-off inputs
    high: float = 0.0
    levels: list[str] = field(default_factory=list)  # binary: [-1 level, +1 level]; one-hot
    missing: int = 0      # missing values seen in the training rows

    def describe(self) -> str:
        """How this column is encoded, in words, e.g. 'binary: F = -1, M = +1'."""
        if self.kind == "numeric":
            how = f"numeric: (x - {self.center:.4g}) / {self.scale:.4g}"
            return how + (f"; {self.missing} missing filled with {self.fill:g}"
                          if self.missing else "")
        if self.kind == "binary":
            return (f"binary: {self.levels[0]} = -1, {self.levels[1]} = +1"
                    + (f"; {self.missing} missing = 0" if self.missing else ""))
        return f"one-hot over {len(self.levels)}: {', '.join(self.levels)}"

    @property
    def outputs(self) -> list[str]:
        if self.kind == "categorical":
            return [f"{self.name}={level}" for level in self.levels]
        return [self.name]


def _sort_labels(values: list[str]) -> list[str]:
    """Class order: numeric labels by value, text labels alphabetically."""
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def _fit_numeric(name: str, raw: pd.Series, scaling: str) -> ColumnEncoding:
    values = numeric_values(raw).dropna()
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 0.0)
    center, scale = 0.0, 1.0
    if scaling == "zscore" and len(values):
        center, scale = float(values.mean()), float(values.std(ddof=0))
    elif scaling == "minmax":
        center, scale = low, high - low
    elif scaling == "divisor":
        biggest = max(abs(low), abs(high))
        scale = 10.0 ** math.ceil(math.log10(biggest)) if biggest > 0 else 1.0
    if not scale or not math.isfinite(scale):
        scale = 1.0
    fill = float(values.median()) if len(values) else 0.0
    return ColumnEncoding(name, "numeric", center, scale, fill, low, high,
                          missing=int(raw.isna().sum()))


def _fit_levels(name: str, kind: str, raw: pd.Series) -> ColumnEncoding:
    levels = sorted(str(v) for v in raw.dropna().unique())
    missing = int(raw.isna().sum())
    if kind == "binary" and len(levels) != 2:
        raise SchemaError(f"column '{name}' has {len(levels)} distinct values in the "
                          "training rows, so it cannot be binary; make it categorical")
    if kind == "categorical" and missing:
        levels.append(MISSING_LEVEL)
    return ColumnEncoding(name, kind, levels=levels, missing=missing)


@dataclass
class Encoder:
    """The fitted encoding of every feature column plus the label's class names."""

    columns: list[ColumnEncoding]
    label: str
    class_names: list[str]
    scaling: str = "zscore"

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema, scaling: str = "zscore") -> Encoder:
        """Learn scalings and vocabularies from the training rows."""
        if scaling not in SCALINGS:
            raise SchemaError(f"unknown scaling '{scaling}' (choose {', '.join(SCALINGS)})")
        columns = [_fit_numeric(c.name, frame[c.name], scaling) if c.kind == "numeric"
                   else _fit_levels(c.name, c.kind, frame[c.name]) for c in schema.features]
        classes = _sort_labels([str(v) for v in frame[schema.label].dropna().unique()])
        return cls(columns, schema.label, classes, scaling)

    @property
    def feature_names(self) -> list[str]:
        return [name for c in self.columns for name in c.outputs]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def missing_counts(self) -> dict[str, int]:
        """Missing values per feature column in the training rows (imputed or own level)."""
        return {c.name: c.missing for c in self.columns}

    def check(self, frame: pd.DataFrame, unknown: str = "error") -> list[Problem]:
        """Every problem in `frame` for this encoder: missing columns, text in numeric
        columns, unseen categories (error, or warning when unknown='zeros'), far-off values."""
        unit = frame.index.name or "row"
        problems = [Problem(0, c.name, "the column is missing", unit=unit) for c in self.columns
                    if c.name not in frame.columns]
        if problems:
            return problems
        for c in self.columns:
            raw = frame[c.name]
            if c.kind == "numeric":
                values = numeric_values(raw)
                for row in raw.index[raw.notna() & values.isna()]:
                    problems.append(Problem(int(row), c.name, f"'{raw.loc[row]}' is not a number",
                                            unit=unit))
                span = max(c.high - c.low, abs(c.high), 1e-9)
                far = (values < c.low - span) | (values > c.high + span)
                for row in raw.index[far]:
                    problems.append(Problem(int(row), c.name,
                                            f"{values.loc[row]:g} is far outside the training "
                                            f"range {c.low:g} to {c.high:g}", "warning", unit))
            else:
                known = set(c.levels)
                for row in raw.index[raw.notna() & ~raw.astype(str).isin(known)]:
                    problems.append(Problem(
                        int(row), c.name,
                        f"'{raw.loc[row]}' was not seen in training (known: "
                        f"{', '.join(l for l in c.levels if l != MISSING_LEVEL)})"
                        + ("; encoded as all zeros" if unknown == "zeros" else ""),
                        "warning" if unknown == "zeros" else "error", unit))
                if c.kind == "categorical" and MISSING_LEVEL not in known:
                    for row in raw.index[raw.isna()]:
                        problems.append(Problem(int(row), c.name, "missing, and training had no "
                                                "missing values here: encoded as all zeros",
                                                "warning", unit))
        return problems

    def transform(self, frame: pd.DataFrame, unknown: str = "error") -> np.ndarray:
        """Encode the feature columns as float32 [rows, n_features]; raise InputError on
        the first error that check() finds."""
        if unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}")
        errors = [p for p in self.check(frame, unknown) if p.severity == "error"]
        if errors:
            more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise InputError(f"{errors[0]}{more}")
        return self._encode(frame)

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for c in self.columns:
            raw = frame[c.name]
            if c.kind == "numeric":
                values = numeric_values(raw).fillna(c.fill).to_numpy(dtype=np.float64)
                blocks.append(((values - c.center) / c.scale)[:, None])
                continue
            text = raw.map(lambda v: MISSING_LEVEL if v is None or v != v else str(v))
            codes = pd.Index(c.levels).get_indexer(text).astype(np.int64)  # unknown: -1
            if c.kind == "binary":  # level 0 -> -1, level 1 -> +1, missing/unknown -> 0
                blocks.append(np.select([codes == 0, codes == 1], [-1.0, 1.0], 0.0)[:, None])
            else:  # one-hot; unknown (code -1) picks the all-zeros row
                blocks.append(np.eye(len(c.levels) + 1)[codes][:, :len(c.levels)])
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(blocks).astype(np.float32)

    def encode_labels(self, frame: pd.DataFrame) -> np.ndarray:
        """Class index of each row's label; InputError names a row with an unknown class."""
        labels = frame[self.label]
        index = {name: i for i, name in enumerate(self.class_names)}
        codes = labels.map(lambda v: index.get(str(v), -1) if v is not None else -1)
        bad = codes < 0
        if bad.any():
            row = labels.index[bad.to_numpy().argmax()]
            raise InputError(f"{labels.index.name or 'row'} {row}, column '{self.label}': class '{labels.loc[row]}' "
                             f"was not in the training rows (classes: "
                             f"{', '.join(self.class_names)})")
        return np.array(codes, dtype=np.int64)

    def encoded_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The encoded features as a frame with readable column names, same index."""
        return pd.DataFrame(self._encode(frame), columns=self.feature_names, index=frame.index)

    def preview(self, frame: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
        """Raw rows beside their encoded form, as in `-1  0.395  0 0 1  0.5120  1`."""
        head = frame.head(rows)
        encoded = self._encode(head)
        labels = [str(self.class_names.index(str(v))) if str(v) in self.class_names else "?"
                  for v in head[self.label]] if self.label in head else [""] * len(head)
        raw = head.apply(lambda r: "  ".join("" if v is None else str(v) for v in r), axis=1)
        text = ["  ".join(_fmt(v) for v in row) + f"  {lab}" for row, lab in zip(encoded, labels)]
        return pd.DataFrame({"raw": raw.to_list(), "encoded": text}, index=head.index)

    def to_dict(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns], "label": self.label,
                "class_names": list(self.class_names), "scaling": self.scaling}

    @classmethod
    def from_dict(cls, data: dict) -> Encoder:
        return cls([ColumnEncoding(**c) for c in data["columns"]], data["label"],
                   list(data["class_names"]), data.get("scaling", "zscore"))


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"
