"""Per-column roles (feature, label, ignore) and kinds (numeric, categorical, binary, datetime,
text), inferred from the data with the reason stated, then edited by the user; the label is
guessed, checked to be a class (not a price or an id) and optionally binned."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import SchemaError, StudioError, TableError

ROLES = ("feature", "label", "ignore")
KINDS = ("numeric", "categorical", "binary", "datetime", "text")
FEW_LEVELS = 10          # integer columns with at most this many values may be categorical
ID_LIKE_LEVELS = 50      # text columns with more distinct values than this, mostly unique, are ids
TOP_K = 50               # high-cardinality categoricals: at most this many levels + "other"
TOP_K_MIN_COUNT = 10     # ... each seen at least this often in the table
MAX_CLASSES = 50         # a label with more distinct values is refused (bin it or choose another)
DATETIME_PARTS = ("year", "month", "weekday", "hour")
SAMPLE = 1000            # values looked at to guess datetimes and free text
TARGET_NAMES = {"label", "labels", "class", "classes", "target", "species", "outcome", "y",
                "diagnosis", "survived", "churn", "result", "category", "grade", "response"}
# the date forms both date parsers (pandas for columns, datetime.fromisoformat for one row) read
ISO_DATE = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"
            r"(Z|[+-][0-9]{2}:[0-9]{2})?$")
NUMBER = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"  # what Arrow casts
ID_NAMES = re.compile(r"(^|[_\s.-])(id|key|index|uuid|guid)$|ID$", re.IGNORECASE)


@dataclass
class ColumnSpec:
    """One column: its role, its kind, a short note on why it was inferred so; max_levels
    (categorical: keep the most frequent K, the rest become 'other'; 0 = all) and bins (the
    label: quantile edges that turn a number into classes)."""

    name: str
    role: str = "feature"
    kind: str = "numeric"
    note: str = ""
    max_levels: int = 0
    bins: list[float] = field(default_factory=list)


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

    def with_label(self, name: str, bins: list[float] | None = None) -> Schema:
        """A copy with `name` as the label (binned at `bins` edges, if given); the old label
        becomes a feature again, or stays ignored when its kind cannot be one."""
        self.column(name)
        return Schema([replace(c, role="label", bins=list(bins or [])) if c.name == name else
                       replace(c, role="ignore" if c.kind == "text" else "feature", bins=[])
                       if c.role == "label" else replace(c) for c in self.columns])

    def with_column(self, name: str, **changes) -> Schema:
        """A copy with one column's role, kind or max_levels changed."""
        self.column(name)
        return Schema([replace(c, **changes) if c.name == name else replace(c)
                       for c in self.columns])

    def to_dict(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        return cls([ColumnSpec(**c) for c in data["columns"]])


def text_array(series: pd.Series) -> pa.ChunkedArray | pa.Array:
    """A column's cells as Arrow strings (null when missing), without a copy for the reader's
    Arrow-backed columns; small object columns (rows typed into a form) are converted."""
    if isinstance(series.array, pd.arrays.ArrowStringArray):
        return series.array.__arrow_array__()
    cells = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in series]
    return pa.array(cells, type=pa.string())


def numeric_values(series: pd.Series) -> pd.Series:
    """Parse a text column to floats; unparseable cells become NaN."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype(float)
    text = text_array(series)
    try:
        values = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # some cells are not numbers:
        numbers = pc.if_else(pc.match_substring_regex(text, NUMBER),  # null those, cast again
                             text, pa.scalar(None, pa.string()))
        try:
            values = pc.cast(numbers, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pd.to_numeric(series.astype(object), errors="coerce").astype(float)
    return pd.Series(values.to_numpy(zero_copy_only=False), index=series.index,
                     name=series.name, dtype=float)


def as_numbers(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The frame with each numeric feature column parsed to float64 once (every later step
    reads it without parsing again), where every present cell is a number; a column with a
    bad cell stays text, so the encoder's check still names its line."""
    typed = {}
    for spec in schema.features:
        if spec.kind == "numeric" and spec.name in frame.columns:
            column = frame[spec.name]
            values = numeric_values(column)
            if not (column.notna() & values.isna()).any():
                typed[spec.name] = values
    return _replaced(frame, typed)


def datetime_values(series: pd.Series) -> pd.Series:
    """Parse ISO 8601 dates and times ('2024-03-05', '2024-03-05 14:07:00+02:00', the ISO_DATE
    forms), in UTC when an offset is given; anything else NaT."""
    text = text_array(series)
    dates = pc.if_else(pc.match_substring_regex(text, ISO_DATE), text, pa.scalar(None, pa.string()))
    return pd.to_datetime(pd.Series(dates.to_numpy(zero_copy_only=False), index=series.index,
                                    dtype=object), format="ISO8601", errors="coerce", utc=True)


def datetime_parts(series: pd.Series) -> dict[str, np.ndarray]:
    """The parts a datetime column is encoded as: year, month, weekday (0 = Monday), hour."""
    when = datetime_values(series).dt
    return {part: getattr(when, "day_of_week" if part == "weekday" else part)
            .to_numpy(dtype=float, na_value=np.nan) for part in DATETIME_PARTS}


def infer_column(series: pd.Series) -> ColumnSpec:
    """Guess the role and kind of one column from its values, with the reason. Numbers are
    judged without counting every distinct value where a sample settles it (1M rows)."""
    name = str(series.name)
    present = series.dropna()
    n = len(present)
    if n == 0:
        return ColumnSpec(name, "ignore", "numeric", "empty: every value is missing")
    sample = present.iloc[:: max(1, n // SAMPLE)].iloc[:SAMPLE]
    if numeric_values(sample).notna().all() and (numbers := numeric_values(present)).notna().all():
        return _numeric_column(name, numbers, sample)
    counts = present.value_counts()
    distinct = len(counts)
    if distinct == 1:
        return ColumnSpec(name, "ignore", "categorical", f"constant: always '{counts.index[0]}'")
    if distinct == 2:
        return ColumnSpec(name, "feature", "binary", "two values: encoded -1/+1")
    if _looks_like_datetime(sample):
        ends = pc.min_max(text_array(present))  # ISO 8601 text sorts as its dates do
        when = datetime_values(pd.Series([ends["min"].as_py(), ends["max"].as_py()]))
        return ColumnSpec(name, "feature", "datetime",
                          f"dates {when.min():%Y-%m-%d} to {when.max():%Y-%m-%d}: encoded as "
                          f"{', '.join(DATETIME_PARTS)}")
    if distinct > ID_LIKE_LEVELS and distinct > 0.5 * n:
        words = sample.str.count(" ").mean() + 1
        if words >= 3:
            return ColumnSpec(name, "ignore", "text", f"free text ({distinct:,} distinct, "
                              f"{words:.0f} words on average): left out")
        return ColumnSpec(name, "ignore", "categorical",
                          f"{distinct:,} distinct values in {n:,} rows: looks like an identifier")
    if distinct > TOP_K:
        k = int(min(TOP_K, max(1, (counts >= TOP_K_MIN_COUNT).sum())))
        cover = counts.iloc[:k].sum() / n
        return ColumnSpec(name, "feature", "categorical",
                          f"{distinct:,} categories: the {k} most frequent (covering {cover:.0%} "
                          f"of rows) one-hot, the rest as 'other'", max_levels=k)
    return ColumnSpec(name, "feature", "categorical", f"{distinct} categories: one-hot")


def _numeric_column(name: str, numbers: pd.Series, sample: pd.Series) -> ColumnSpec:
    """A numeric column's kind; its distinct values are counted only when the sample has
    few of them or the column may be an id (whole numbers, counting up or named like one)."""
    n = len(numbers)
    integers = bool((numbers == numbers.round()).all())
    few = sample.nunique() <= FEW_LEVELS
    may_be_id = integers and n >= 20 and (ID_NAMES.search(name) is not None
                                         or numbers.is_monotonic_increasing)
    distinct = int(numbers.nunique()) if few or may_be_id else FEW_LEVELS + 1
    if distinct == 1:
        return ColumnSpec(name, "ignore", "categorical", f"constant: always '{sample.iloc[0]}'")
    if distinct == 2:
        return ColumnSpec(name, "feature", "binary", "two values: encoded -1/+1")
    if may_be_id and distinct == n:
        return ColumnSpec(name, "ignore", "numeric",
                          "a different whole number on every row: looks like an identifier")
    if integers and distinct <= FEW_LEVELS:
        return ColumnSpec(name, "feature", "numeric",
                          f"integers with {distinct} distinct values: could be categorical")
    return ColumnSpec(name, "feature", "numeric", "numbers")


def _looks_like_datetime(sample: pd.Series) -> bool:
    """Most sampled cells have a date's separators and parse as ISO 8601."""
    if not sample.str.contains(r"^\d{4}-\d\d-\d\d", regex=True).mean() >= 0.95:
        return False
    return datetime_values(sample).notna().mean() >= 0.95


def guess_label(frame: pd.DataFrame, columns: list[ColumnSpec]) -> str:
    """A column named like a target with 2..MAX_CLASSES values, else the last such column;
    SchemaError (asking for one) when no column looks like a class."""
    usable = [c for c in columns if c.kind in ("categorical", "binary", "numeric")
              and c.role != "ignore" and 2 <= _few_distinct(frame[c.name]) <= MAX_CLASSES]
    named = [c for c in usable if re.sub(r"[^a-z]", "", c.name.lower()) in TARGET_NAMES]
    if named:
        return named[0].name
    for c in reversed(usable):
        numbers = numeric_values(frame[c.name].dropna())
        if c.kind != "numeric" or (numbers == numbers.round()).all():
            return c.name
    raise SchemaError("no column looks like a label (a name such as label, class or target, "
                      f"or 2 to {MAX_CLASSES} distinct values); choose the column to predict")


def _few_distinct(series: pd.Series) -> int:
    """The distinct values, counted only when a sample has at most MAX_CLASSES of them
    (else MAX_CLASSES + 1): a label candidate is judged without hashing a million floats."""
    present = series.dropna()
    sample = present.iloc[:: max(1, len(present) // SAMPLE)].iloc[:SAMPLE]
    return _distinct(present) if _distinct(sample) <= MAX_CLASSES else MAX_CLASSES + 1


def _distinct(series: pd.Series) -> int:
    return int(series.nunique(dropna=True))


def check_label(series: pd.Series, spec: ColumnSpec | None = None,
                source: str | None = None) -> None:
    """Refuse, in one line, a label that is not a class: a continuous number, a near-unique
    text (an id, a timestamp) or more than MAX_CLASSES classes. Binned labels pass."""
    if spec is not None and spec.bins:
        return
    name, present = str(series.name), series.dropna()
    distinct = _distinct(present)
    if distinct <= MAX_CLASSES:
        return
    numbers = numeric_values(present)
    if numbers.notna().all():
        raise TableError(f"'{name}' has {distinct:,} distinct numeric values: it looks like a "
                         "number to predict, not a class; choose another column or bin it "
                         "into K classes (--bins K, or 'Bin into classes' on the Data page)",
                         source)
    what = ("it looks like an identifier or a timestamp, not a class"
            if distinct > 0.5 * len(present) else f"a classifier needs at most {MAX_CLASSES}")
    raise TableError(f"'{name}' has {distinct:,} distinct values in {len(present):,} rows: "
                     f"{what}; choose another column", source)


def quantile_bins(series: pd.Series, k: int) -> list[float]:
    """Edges of k quantile bins over a numeric column (fewer when values repeat)."""
    if not 2 <= k <= MAX_CLASSES:
        raise SchemaError(f"bins must be between 2 and {MAX_CLASSES} (got {k})")
    values = numeric_values(series).dropna()
    if len(values) < series.notna().sum():
        raise SchemaError(f"'{series.name}' holds text, not numbers, so it cannot be binned; "
                          "its values are classes already")
    if values.empty or values.nunique() < 2:
        raise SchemaError(f"'{series.name}' needs at least two different numbers to be binned")
    edges = np.unique(np.quantile(values.to_numpy(), np.linspace(0, 1, k + 1)))
    return [float(e) for e in edges]


def bin_names(edges: list[float]) -> list[str]:
    """Class names of the bins, in order: '326–950', '950–2401', ..."""
    return [f"{lo:.6g}–{hi:.6g}" for lo, hi in zip(edges[:-1], edges[1:])]


def binned(series: pd.Series, edges: list[float]) -> pd.Series:
    """Each number's bin name (values beyond the edges go to the first or last bin)."""
    values = numeric_values(series).to_numpy()
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    names = np.array(bin_names(edges), dtype=object)[index]
    names[np.isnan(values)] = None
    return pd.Series(names, index=series.index, name=series.name, dtype="str")


def with_bins(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The frame with a binned label replaced by its bin names (unchanged otherwise)."""
    spec = schema.column(schema.label)
    if not spec.bins or spec.name not in frame.columns or \
            frame[spec.name].dropna().isin(bin_names(spec.bins)).all():
        return frame  # not binned, no label here, or binned already
    return _replaced(frame, {spec.name: binned(frame[spec.name], spec.bins)})


def _replaced(frame: pd.DataFrame, columns: dict[str, pd.Series]) -> pd.DataFrame:
    """A shallow copy of `frame` with some columns replaced (any column name, even 'self')."""
    if not columns:
        return frame
    out = frame.copy(deep=False)
    for name, values in columns.items():
        out[name] = values
    return out


def class_order(values: list[str]) -> list[str]:
    """Class order: numeric labels by value, text labels alphabetically."""
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def class_counts(frame: pd.DataFrame, schema: Schema) -> pd.Series:
    """Rows per class of the label, in class order (a binned label's bins in order), the
    one order the encoder, the pages and the CLI use."""
    labels = with_bins(frame[[schema.label]], schema)[schema.label]
    counts = labels.value_counts(dropna=True)
    counts.index = counts.index.astype(str)
    bins = schema.column(schema.label).bins
    order = [n for n in bin_names(bins) if n in counts.index] if bins else \
        class_order(list(counts.index))
    return counts.reindex(order)


def infer_schema(frame: pd.DataFrame, label: str | int | None = None, bins: int = 0) -> Schema:
    """Infer every column; the label is `label` (a name, or an int 0-based position) or
    guessed, and cut into `bins` quantile classes when asked; a label that is not a class
    is refused in one line."""
    columns = [infer_column(frame[name]) for name in frame.columns]
    if label is None:
        label_name = guess_label(frame, columns)
    elif isinstance(label, int):
        if not 0 <= label < len(frame.columns):
            raise SchemaError(f"label index {label} is out of range 0..{len(frame.columns) - 1}")
        label_name = str(frame.columns[label])
    else:
        label_name = label
    schema = Schema(columns)
    spec = schema.column(str(label_name))
    if bins:
        return schema.with_label(spec.name, quantile_bins(frame[spec.name], bins))
    check_label(frame[spec.name], spec)
    return schema.with_label(spec.name)


def draft_schema(frame: pd.DataFrame, label: str | None = None) -> tuple[Schema, str | None]:
    """infer_schema for a page that lets the user fix things: when no label can be guessed,
    or the named one is not a class, the last column stands in and the reason comes back
    (the page asks the user to choose) instead of the table being refused."""
    try:
        return infer_schema(frame, label), None
    except StudioError as err:
        if label is not None and label not in frame.columns:
            raise
        schema = Schema([infer_column(frame[name]) for name in frame.columns])
        return schema.with_label(label or schema.names[-1]), str(err)
