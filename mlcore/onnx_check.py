"""The raw ONNX file is checked against the engine before it is offered: onnxruntime and the
Predictor label the same raw rows (up to a few thousand of the user's, rows spread over the
training ranges, and generated edge rows), with tolerances that float32 arithmetic can keep.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .bundle import Bundle
from .decision import margin
from .encoder import MISSING_LEVEL
from .onnx_export import ExportError, as_bytes
from .onnx_raw import raw_feeds, raw_model
from .predict import Predictor

MAX_TABLE_ROWS = 2000   # rows of the user's table the check runs on, sampled when more
SPREAD_ROWS = 256       # rows spread over the training ranges and known categories
MAX_LEVEL_ROWS = 1000   # rows cycling through every known category
# The graph computes in float32 from float32 inputs, the engine encodes in float64: the
# probabilities may differ by rounding, so |graph - engine| <= ATOL + RTOL * engine, and a
# label may differ only where the engine's own decision margin is inside ATOL.
ATOL, RTOL = 1e-4, 1e-3


@dataclass
class RawParityCheck:
    """How the raw graph's answers compare with the engine's on the same raw rows."""

    rows: int
    table_rows: int         # rows taken from the given table
    generated_rows: int     # spread, category and edge rows
    labels_agree: int
    near_ties: int          # rows whose labels differ inside the float32 margin
    max_abs_diff: float
    unknown_rows: int
    onnxruntime_version: str

    @property
    def labels_identical(self) -> bool:
        return self.labels_agree == self.rows

    def summary(self) -> str:
        ties = f" ({self.near_ties} differ on a float32 tie)" if self.near_ties else ""
        return (f"onnxruntime {self.onnxruntime_version} on {self.rows:,} raw rows "
                f"({self.table_rows:,} from the table, {self.generated_rows:,} generated: "
                f"spread, every category, missing, unseen and extreme values): labels agree "
                f"on {self.labels_agree:,} of {self.rows:,}{ties}, max |probability "
                f"difference| {self.max_abs_diff:.1e} (allowed {ATOL:.0e} + {RTOL:.0e}×p), "
                f"{self.unknown_rows:,} row{'' if self.unknown_rows == 1 else 's'} with "
                "unseen categories")

    def to_dict(self) -> dict:
        return {**asdict(self), "labels_identical": self.labels_identical}


def sample_rows(bundle: Bundle, rows: int = SPREAD_ROWS, seed: int = 0) -> pd.DataFrame:
    """Raw rows spread over the training ranges and known categories (missing as None), to
    check an export when no data file is at hand."""
    rng = np.random.default_rng(seed)
    spread = {}
    for c in bundle.encoder.columns:
        if c.kind == "numeric":
            spread[c.name] = [repr(float(v)) for v in rng.uniform(c.low, c.high, rows)]
        elif c.kind == "datetime":  # one text per date column, its years from the year part
            if c.part == "year":
                spread[c.name] = [_date(year, int(day), int(hour)) for year, day, hour in zip(
                    rng.uniform(c.low, c.high, rows), rng.integers(0, 365, rows),
                    rng.integers(0, 24, rows))]
        else:
            spread[c.name] = [None if v == MISSING_LEVEL else v
                              for v in rng.choice(np.array(c.levels, dtype=object), rows)]
    return pd.DataFrame(spread, dtype=object)


def edge_rows(bundle: Bundle) -> pd.DataFrame:
    """Every known category in turn, then a row of all missing values, one of unseen
    categories, and rows at and far beyond the training extremes (dates: the typical year,
    then the years at and beyond the training range)."""
    columns = bundle.encoder.columns
    dates = {c.name: c for c in columns if c.kind == "datetime" and c.part == "year"}
    plain = [c for c in columns if c.kind != "datetime"]
    typical = {name: _date(c.fill, 180, 12) for name, c in dates.items()}
    width = min(MAX_LEVEL_ROWS, max((len(c.levels) for c in plain if c.kind != "numeric"),
                                    default=0))
    rows = [{c.name: (repr(c.fill) if c.kind == "numeric" else
                      None if c.levels[r % len(c.levels)] == MISSING_LEVEL else
                      c.levels[r % len(c.levels)]) for c in plain} | typical
            for r in range(width)]
    rows.append({c.name: None for c in columns})
    rows.append({c.name: repr(c.fill) if c.kind == "numeric" else _unseen(c.levels)
                 for c in plain} | typical)
    for pick in (lambda c: c.low, lambda c: c.high, lambda c: c.low - 10 * _span(c),
                 lambda c: c.high + 10 * _span(c)):
        rows.append({c.name: repr(float(pick(c))) if c.kind == "numeric" else
                     next((v for v in c.levels if v != MISSING_LEVEL), None) for c in plain}
                    | {name: _date(pick(c), 180, 12) for name, c in dates.items()})
    return pd.DataFrame(rows, columns=list(dict.fromkeys(c.name for c in columns)),
                        dtype=object)


def _date(year: float, day: int, hour: int) -> str:
    """An ISO date and time in `year` (kept within 1..9999), `day` days into it."""
    start = pd.Timestamp(year=min(9999, max(1, int(year))), month=1, day=1)
    return (start + pd.Timedelta(days=day, hours=hour)).strftime("%Y-%m-%d %H:%M:%S")


def _span(c) -> float:
    return max(c.high - c.low, abs(c.high), 1.0)


def _unseen(levels: list[str]) -> str:
    value, k = "unseen", 1
    while value in levels:
        value, k = f"unseen-{k}", k + 1
    return value


def check_rows(bundle: Bundle, frame: pd.DataFrame | None = None,
               seed: int = 0) -> tuple[pd.DataFrame, int]:
    """The rows a check runs on and how many came from `frame` (at most MAX_TABLE_ROWS of
    it, sampled with a fixed seed): then spread rows and edge rows."""
    features = bundle.encoder.input_columns
    taken = pd.DataFrame(columns=features, dtype=object)
    if frame is not None and len(frame):
        taken = frame[features]
        if len(taken) > MAX_TABLE_ROWS:
            picks = np.sort(np.random.default_rng(seed).choice(len(taken), MAX_TABLE_ROWS,
                                                               replace=False))
            taken = taken.iloc[picks]
    rows = pd.concat([taken.astype(object), sample_rows(bundle, seed=seed), edge_rows(bundle)],
                     ignore_index=True)
    rows.index = pd.RangeIndex(1, len(rows) + 1, name="row")
    return rows, len(taken)


def _run(session, bundle: Bundle, rows: pd.DataFrame) -> list[np.ndarray]:
    """The graph's outputs for `rows`, refusing outputs that lost the batch dimension."""
    labels, probabilities, unknown = session.run(None, raw_feeds(bundle, rows))
    n, k = len(rows), len(bundle.class_names)
    if labels.shape != (n,) or probabilities.shape != (n, k) or unknown.shape != (n,):
        raise ExportError(f"the raw ONNX graph gave outputs of shapes {labels.shape}, "
                          f"{probabilities.shape}, {unknown.shape} for {n} rows; not exported")
    return [labels, probabilities, unknown]


def compare(bundle: Bundle, rows: pd.DataFrame, table_rows: int, session,
            version: str) -> RawParityCheck:
    """Engine (Predictor, unknown categories as zeros) against the graph on `rows`."""
    predictor = Predictor(bundle)
    rows = predictor.to_frame(rows)
    expected = predictor.predict(rows, unknown="zeros", strict=False)
    good = [i for i, label in enumerate(expected.labels) if label is not None]
    rows = rows.iloc[good]
    _run(session, bundle, rows.iloc[:1])  # a batch of one keeps its batch dimension too
    labels, probabilities, unknown = _run(session, bundle, rows)
    want = expected.probabilities[good]
    diff = np.abs(probabilities - want)
    if np.any(diff > ATOL + RTOL * np.abs(want)):
        raise ExportError(f"the raw ONNX graph's probabilities differ from the engine's by up "
                          f"to {diff.max():.1e} (allowed {ATOL:.0e} + {RTOL:.0e}×p) on "
                          f"{len(good):,} rows; not exported")
    same = np.array([str(g) == expected.labels[i] for g, i in zip(labels, good)], dtype=bool)
    tie = margin(want, bundle.threshold) <= ATOL
    if np.any(~same & ~tie):
        row = int(rows.index[np.flatnonzero(~same & ~tie)[0]])
        raise ExportError(f"the raw ONNX graph labels check row {row} differently from the "
                          "engine, outside float32 rounding; not exported")
    from_table = sum(i < table_rows for i in good)
    return RawParityCheck(len(good), from_table, len(good) - from_table,
                          int(same.sum()), int((~same).sum()),
                          float(diff.max()) if len(good) else 0.0, int((unknown > 0).sum()),
                          version)


def export_raw_onnx(bundle: Bundle, path: Path | str,
                    frame: pd.DataFrame | None = None) -> RawParityCheck:
    """Write the raw-input ONNX file and check it (check_rows of `frame`, raw rows such as the
    training table or a test file); remove the file and raise ExportError on a mismatch."""
    import onnxruntime

    path = Path(path)
    path.write_bytes(raw_model(bundle).SerializeToString())
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        rows, taken = check_rows(bundle, frame)
        return compare(bundle, rows, taken, session, onnxruntime.__version__)
    except Exception:
        path.unlink(missing_ok=True)
        raise


def raw_onnx_bytes(bundle: Bundle, frame: pd.DataFrame | None = None
                   ) -> tuple[bytes, RawParityCheck]:
    """The raw-input ONNX file as bytes with its check, e.g. for a download."""
    return as_bytes(export_raw_onnx, bundle, frame)


def check_features(bundle: Bundle, frame: pd.DataFrame | None = None) -> np.ndarray:
    """Encoded rows to check the network-only export on: check_rows of `frame`, unseen
    categories as zeros."""
    rows, _ = check_rows(bundle, frame)
    return bundle.encoder.transform(rows, unknown="zeros")
