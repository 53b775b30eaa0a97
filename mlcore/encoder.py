"""Turn raw table columns into float features and the label into class indices.

Fitted on the training rows only and stored as JSON. Each column's transform is a per-column
affine map (numeric, binary) or a vocabulary lookup (one-hot), so it can be compiled to ONNX.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InputError, SchemaError
from .schema import Schema, class_counts, datetime_parts, numeric_values, text_array

SCALINGS = ("zscore", "minmax", "divisor", "none")
UNKNOWN_POLICIES = ("error", "zeros")
MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"      # the categories beyond a column's top K, and unseen ones
MAX_PROBLEMS = 1000          # per column; the rest are counted in one last problem


@dataclass
class Problem:
    """One problem with one input row: an error stops that row, a warning does not."""

    row: int
    column: str           # "" when the problem is the whole row's
    message: str
    severity: str = "error"
    unit: str = "row"  # "line" when rows came from a file read by read_table

    def __str__(self) -> str:
        where = f"{self.unit} {self.row}" if self.row else ""
        where += f", column '{self.column}'" if self.column else ""
        return f"{where.lstrip(', ')}: {self.message}" if where else self.message


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
    part: str = ""        # datetime: which part of the date this number is (year, month...)

    def describe(self) -> str:
        """How this column is encoded, in words, e.g. 'binary: F = -1, M = +1'."""
        if self.kind in ("numeric", "datetime"):
            how = (f"{self.part} of the date" if self.part else "numeric") + \
                f": (x - {self.center:.4g}) / {self.scale:.4g}"
            return how + (f"; {self.missing} missing filled with {self.fill:g}"
                          if self.missing else "")
        if self.kind == "binary":
            return (f"binary: {self.levels[0]} = -1, {self.levels[1]} = +1"
                    + (f"; {self.missing} missing = 0" if self.missing else ""))
        shown = self.levels if len(self.levels) <= 12 else self.levels[:10] + ["..."]
        return f"one-hot over {len(self.levels)}: {', '.join(shown)}"

    @property
    def outputs(self) -> list[str]:
        if self.kind == "categorical":
            return [f"{self.name}={level}" for level in self.levels]
        return [f"{self.name}.{self.part}" if self.part else self.name]


def _scaled(name: str, values: np.ndarray, scaling: str, missing: int, part: str = ""
            ) -> ColumnEncoding:
    """Scale and fill fitted on the present values of one numeric column (or date part)."""
    values = values[~np.isnan(values)]
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 0.0)
    center, scale = 0.0, 1.0
    if scaling == "zscore" and len(values):
        center, scale = float(values.mean()), float(values.std())
    elif scaling == "minmax":
        center, scale = low, high - low
    elif scaling == "divisor":
        biggest = max(abs(low), abs(high))
        scale = 10.0 ** math.ceil(math.log10(biggest)) if biggest > 0 else 1.0
    if not scale or not math.isfinite(scale):
        scale = 1.0
    fill = float(np.median(values)) if len(values) else 0.0
    return ColumnEncoding(name, "datetime" if part else "numeric", center, scale, fill, low,
                          high, missing=missing, part=part)


def _fit_levels(name: str, kind: str, raw: pd.Series, max_levels: int = 0) -> ColumnEncoding:
    counts = raw.value_counts(dropna=True)
    missing = int(raw.isna().sum())
    if kind == "binary" and len(counts) != 2:
        raise SchemaError(f"column '{name}' has {len(counts)} distinct values in the "
                          "training rows, so it cannot be binary; make it categorical")
    if kind == "categorical" and max_levels and len(counts) > max_levels:
        ranked = sorted(zip(counts.to_numpy(), counts.index.astype(str)), key=lambda t: (-t[0], t[1]))
        levels = sorted(level for _, level in ranked[:max_levels]) + [OTHER_LEVEL]
    else:
        levels = sorted(str(v) for v in counts.index)
    if kind == "categorical" and missing:
        levels.append(MISSING_LEVEL)
    return ColumnEncoding(name, kind, levels=levels, missing=missing)


def _fit_column(spec, raw: pd.Series, scaling: str) -> list[ColumnEncoding]:
    missing = int(raw.isna().sum())
    if spec.kind == "numeric" or _kept_as_numbers(spec.kind, raw, scaling):
        return [_scaled(spec.name, numeric_values(raw).to_numpy(), scaling, missing)]
    if spec.kind == "datetime":
        return [_scaled(spec.name, values, scaling, missing, part)
                for part, values in datetime_parts(raw).items()]
    return [_fit_levels(spec.name, spec.kind, raw, spec.max_levels)]


def _kept_as_numbers(kind: str, raw: pd.Series, scaling: str) -> bool:
    """A binary column of the numbers 0 and 1 under 'none' or 'divisor' scaling stays 0/1
    (as the articles' pre-encoded columns are), not -1/+1: it is encoded as a number."""
    if kind != "binary" or scaling not in ("none", "divisor"):
        return False
    return set(raw.dropna().astype(str).unique()) == {"0", "1"}


def level_codes(c: ColumnEncoding, raw: pd.Series) -> np.ndarray:
    """Each cell's index in c.levels: missing cells the missing level (or -2 without one),
    categories not in the levels 'other' when there is one, else -1."""
    text = text_array(raw)
    codes = pc.index_in(text, value_set=pa.array(c.levels, type=pa.string()))
    codes = np.asarray(pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    nulls = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=bool)
    if OTHER_LEVEL in c.levels:
        codes[(codes < 0) & ~nulls] = c.levels.index(OTHER_LEVEL)
    codes[nulls] = c.levels.index(MISSING_LEVEL) if MISSING_LEVEL in c.levels else -2
    return codes


@dataclass
class Encoder:
    """The fitted encoding of every feature column plus the label's class names."""

    columns: list[ColumnEncoding]
    label: str
    class_names: list[str]
    scaling: str = "zscore"

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema, scaling: str = "zscore") -> Encoder:
        """Learn scalings and vocabularies from the training rows (a binned label's classes
        in bin order)."""
        if scaling not in SCALINGS:
            raise SchemaError(f"unknown scaling '{scaling}' (choose {', '.join(SCALINGS)})")
        columns = [e for spec in schema.features for e in _fit_column(spec, frame[spec.name],
                                                                      scaling)]
        return cls(columns, schema.label, list(class_counts(frame, schema).index), scaling)

    @property
    def feature_names(self) -> list[str]:
        return [name for c in self.columns for name in c.outputs]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def input_columns(self) -> list[str]:
        """The raw columns the encoder reads, in order, each once."""
        return list(dict.fromkeys(c.name for c in self.columns))

    @property
    def missing_counts(self) -> dict[str, int]:
        """Missing values per feature column in the training rows (imputed or own level)."""
        return {c.name: c.missing for c in self.columns}

    def check(self, frame: pd.DataFrame, unknown: str = "error") -> list[Problem]:
        """Every problem in `frame` for this encoder: missing columns, text in numeric
        columns, unseen categories (error, or warning when unknown='zeros'), far-off values;
        at most MAX_PROBLEMS per column and kind, then one that counts the rest."""
        unit = frame.index.name or "row"
        problems = [Problem(0, name, "the column is missing", unit=unit)
                    for name in self.input_columns if name not in frame.columns]
        if problems:
            return problems
        for c in self.columns:
            problems += _column_problems(c, frame[c.name], unknown, unit)
        return problems

    def transform(self, frame: pd.DataFrame, unknown: str = "error") -> np.ndarray:
        """Encode the feature columns as float32 [rows, n_features]; raise InputError on
        the first error that check() finds."""
        return self.checked(frame, unknown)[0]

    def checked(self, frame: pd.DataFrame, unknown: str = "error"
                ) -> tuple[np.ndarray, list[Problem]]:
        """transform() and the warnings check() found, in one pass over the problems."""
        if unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}")
        problems = self.check(frame, unknown)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise InputError(f"{errors[0]}{more}")
        return self.encode(frame), problems

    def error_rows(self, frame: pd.DataFrame, unknown: str = "error") -> np.ndarray:
        """A mask of the rows check() finds an error in (all of them, not only the first
        MAX_PROBLEMS): text in a numeric column, or an unseen category when unknown='error'."""
        bad = np.zeros(len(frame), dtype=bool)
        for c in self.columns:
            raw = frame[c.name]
            if c.kind == "numeric":
                bad |= (raw.notna() & numeric_values(raw).isna()).to_numpy()
            elif c.kind in ("binary", "categorical") and unknown == "error":
                bad |= level_codes(c, raw) == -1
        return bad

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """One float32 matrix filled column block by column block (no per-row Python),
        unchecked: unseen categories encode as zeros, text in a numeric column as its fill;
        transform() checks first."""
        out = np.zeros((len(frame), self.n_features), dtype=np.float32)
        offset, dates = 0, {}
        for c in self.columns:
            raw = frame[c.name]
            if c.kind in ("numeric", "datetime"):
                if c.kind == "numeric":
                    values = numeric_values(raw).to_numpy(dtype=np.float64)
                else:
                    if c.name not in dates:
                        dates[c.name] = datetime_parts(raw)
                    values = dates[c.name][c.part]
                out[:, offset] = (np.where(np.isnan(values), c.fill, values) - c.center) / c.scale
                offset += 1
                continue
            codes = level_codes(c, raw)
            if c.kind == "binary":  # level 0 -> -1, level 1 -> +1, missing/unknown -> 0
                out[:, offset] = np.select([codes == 0, codes == 1], [-1.0, 1.0], 0.0)
                offset += 1
            else:  # one-hot; unknown or missing without a level: all zeros
                rows = np.flatnonzero(codes >= 0)
                out[rows, offset + codes[rows]] = 1.0
                offset += len(c.levels)
        return out

    def encode_labels(self, frame: pd.DataFrame) -> np.ndarray:
        """Class index of each row's label; InputError names a row with an unknown class."""
        labels = frame[self.label]
        codes = pc.index_in(text_array(labels), value_set=pa.array(self.class_names,
                                                                   type=pa.string()))
        codes = np.asarray(pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), np.int64)
        bad = codes < 0
        if bad.any():
            row = labels.index[bad.argmax()]
            raise InputError(f"{labels.index.name or 'row'} {row}, column '{self.label}': "
                             f"class '{labels.loc[row]}' was not in the training rows "
                             f"(classes: {', '.join(self.class_names)})")
        return codes

    def encoded_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The encoded features as a frame with readable column names, same index."""
        return pd.DataFrame(self.encode(frame), columns=self.feature_names, index=frame.index)

    def preview(self, frame: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
        """Raw rows beside their encoded form, as in `-1  0.395  0 0 1  0.5120  1`."""
        head = frame.head(rows)
        encoded = self.encode(head)
        labels = [str(self.class_names.index(str(v))) if str(v) in self.class_names else "?"
                  for v in head[self.label]] if self.label in head else [""] * len(head)
        raw = head.apply(lambda r: "  ".join("" if pd.isna(v) else str(v) for v in r), axis=1)
        text = ["  ".join(_fmt(v) for v in row) + f"  {lab}" for row, lab in zip(encoded, labels)]
        return pd.DataFrame({"raw": raw.to_list(), "encoded": text}, index=head.index)

    def to_dict(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns], "label": self.label,
                "class_names": list(self.class_names), "scaling": self.scaling}

    @classmethod
    def from_dict(cls, data: dict) -> Encoder:
        return cls([ColumnEncoding(**c) for c in data["columns"]], data["label"],
                   list(data["class_names"]), data.get("scaling", "zscore"))


def _capped(rows, problem, unit: str, column: str) -> list[Problem]:
    """`problem(row)` for the first MAX_PROBLEMS of `rows`, then one line counting the rest
    (all of them: only MAX_PROBLEMS + 1 problems are ever built)."""
    found = [problem(row) for row in rows[:MAX_PROBLEMS + 1]]
    if len(found) <= MAX_PROBLEMS:
        return found
    rest = len(rows) - MAX_PROBLEMS
    return found[:MAX_PROBLEMS] + [Problem(0, column, f"and {rest:,} more rows like these",
                                           found[-1].severity, unit)]


def not_a_number(value: object) -> str:
    return f"'{value}' is not a number"


def far_bounds(c: ColumnEncoding) -> tuple[float, float]:
    """Numbers beyond these are far off: more than one training span outside its range."""
    span = max(c.high - c.low, abs(c.high), 1e-9)
    return c.low - span, c.high + span


def far_message(c: ColumnEncoding, value: float) -> str:
    return f"{value:g} is far outside the training range {c.low:g} to {c.high:g}"


def unseen_message(c: ColumnEncoding, value: object, unknown: str) -> str:
    known = ", ".join(l for l in c.levels[:20] if l != MISSING_LEVEL) + (
        ", ..." if len(c.levels) > 20 else "")
    return f"'{value}' was not seen in training (known: {known})" + (
        "; encoded as all zeros" if unknown == "zeros" else "")


GAP_MESSAGE = "missing, and training had no missing values here: encoded as all zeros"


def _column_problems(c: ColumnEncoding, raw: pd.Series, unknown: str,
                     unit: str) -> list[Problem]:
    """One column's problems, found with masks; Problems built only for flagged rows."""
    if c.kind == "datetime":
        return []  # unparseable dates are imputed like missing ones
    if c.kind == "numeric":
        values = numeric_values(raw)
        bad = raw.index[(raw.notna() & values.isna()).to_numpy()]
        found = _capped(bad, lambda row: Problem(int(row), c.name, not_a_number(raw.loc[row]),
                                                 unit=unit), unit, c.name)
        low, high = far_bounds(c)
        far = raw.index[((values < low) | (values > high)).to_numpy()]
        return found + _capped(far, lambda row: Problem(
            int(row), c.name, far_message(c, values.loc[row]), "warning", unit), unit, c.name)
    codes = level_codes(c, raw)
    severity = "warning" if unknown == "zeros" else "error"
    unseen = _capped(raw.index[codes == -1], lambda row: Problem(
        int(row), c.name, unseen_message(c, raw.loc[row], unknown), severity, unit),
        unit, c.name)
    gaps = raw.index[codes == -2] if c.kind == "categorical" else []
    return unseen + _capped(gaps, lambda row: Problem(int(row), c.name, GAP_MESSAGE,
                                                      "warning", unit), unit, c.name)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"
