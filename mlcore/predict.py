"""Predict from raw values (a dict, rows, or a DataFrame) with a bundle, after checking them
against the schema; also the decision-boundary grid over two numeric features."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .bundle import Bundle
from .coverage import coverage_problems, known_levels, row_unseen, sentence
from .encoder import Problem
from .errors import InputError
from .row_encoder import RowEncoder, cell_text
from .schema import text_array
from .table import clean_cells
from .decision import DEFAULT_THRESHOLD, check_threshold, decide
from .metrics import Report, predict_probabilities
from .model import to_probabilities

CHUNK_ROWS = 100_000  # rows encoded and predicted at a time
Rows = Mapping[str, Any] | Iterable[Mapping[str, Any]] | Iterable[Iterable[Any]] | pd.DataFrame


@dataclass
class Prediction:
    """Labels (None where a row had an error), probabilities (NaN there) and problems."""

    labels: list[str | None]
    probabilities: np.ndarray
    class_names: list[str]
    problems: list[Problem]
    index: list[int]
    threshold: float = DEFAULT_THRESHOLD  # the decision threshold the labels were made at

    def frame(self) -> pd.DataFrame:
        """One row per input: predicted label, then P(class) per class."""
        out = pd.DataFrame({"predicted": self.labels}, index=self.index)
        for i, name in enumerate(self.class_names):
            out[f"P({name})"] = self.probabilities[:, i]
        return out

    def score(self, actual: Sequence[Any]) -> tuple[Report | None, int]:
        """Evaluate against each row's true label (e.g. a label column in the uploaded file):
        a Report over the rows that were predicted and whose label is a known class (None
        when there are none), and how many rows were left out."""
        index = {name: i for i, name in enumerate(self.class_names)}
        targets = [index.get(cell_text(value), -1) for value in actual]
        keep = [i for i, (label, target) in enumerate(zip(self.labels, targets))
                if label is not None and target >= 0]
        if not keep:
            return None, len(targets)
        report = Report(list(self.class_names), self.probabilities[keep],
                        np.array([targets[i] for i in keep]), self.threshold)
        return report, len(targets) - len(keep)


def _cleaned(column: pd.Series) -> pd.Series:
    """A column as text cells by the reader's rules: vectorised for Arrow text columns,
    cell by cell (cell_text) for anything else (numbers, objects typed into a form)."""
    if isinstance(column.array, pd.arrays.ArrowStringArray):
        return pd.Series(pd.arrays.ArrowStringArray(clean_cells(text_array(column))),
                         index=column.index, name=column.name)
    return column.map(cell_text).astype(object)


class Predictor:
    """A bundle's encoder and network ready to label raw rows."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.encoder = bundle.encoder
        self.model = bundle.build_model().eval()
        self.features = bundle.encoder.input_columns
        self.row_encoder = RowEncoder(bundle.encoder)
        self.known = known_levels(bundle.encoder)

    def to_frame(self, rows: Rows) -> pd.DataFrame:
        """Normalise input to a frame of text cells: a dict is one row; a list row holds the
        feature values in order (or every column of the training file, or all but the label)."""
        if isinstance(rows, pd.DataFrame):
            frame = rows.copy()
            if not (pd.api.types.is_integer_dtype(frame.index) and frame.index.is_unique):
                frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")  # rows by position
        else:
            rows = [rows] if isinstance(rows, Mapping) else list(rows)
            if rows and not isinstance(rows[0], Mapping):
                all_columns = self.bundle.schema.names
                unlabelled = [n for n in all_columns if n != self.bundle.schema.label]
                names = {len(all_columns): all_columns, len(unlabelled): unlabelled,
                         len(self.features): self.features}
                widths = {len(r) for r in rows}
                if len(widths) != 1 or widths.pop() not in names:
                    raise InputError(f"each row needs {len(self.features)} values "
                                     f"({', '.join(self.features)})")
                rows = [dict(zip(names[len(r)], r)) for r in rows]
            frame = pd.DataFrame(list(rows), index=range(1, len(rows) + 1))
            frame.index.name = "row"
        return frame.apply(_cleaned)

    def predict(self, rows: Rows, unknown: str = "error", strict: bool = True,
                threshold: float | None = None) -> Prediction:
        """Label every row at the bundle's threshold (or `threshold`, for this call). strict:
        raise InputError on the first bad row; otherwise predict the good rows and report
        the bad ones in `problems`."""
        threshold = self.bundle.threshold if threshold is None else \
            check_threshold(threshold, self.encoder.class_names)
        if isinstance(rows, Mapping):
            return self._predict_row(rows, unknown, strict, threshold)
        frame = self.to_frame(rows)
        problems = self.encoder.check(frame, unknown)
        errors = [p for p in problems if p.severity == "error"]
        if errors and (strict or any(p.column not in frame.columns for p in errors)):
            more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise InputError(f"{errors[0]}{more}")
        names = list(self.encoder.class_names)
        probabilities = np.full((len(frame), len(names)), np.nan)
        good = np.flatnonzero(~self.encoder.error_rows(frame, unknown)) if errors else \
            np.arange(len(frame))
        for start in range(0, len(good), CHUNK_ROWS):  # bounded memory for large files
            at = good[start:start + CHUNK_ROWS]
            probabilities[at] = predict_probabilities(self.model,
                                                      self.encoder.encode(frame.iloc[at]))
        chosen = decide(probabilities[good], threshold)
        labels = np.full(len(frame), None, dtype=object)
        labels[good] = np.array(names, dtype=object)[chosen]
        problems += coverage_problems(self.encoder, frame.iloc[good])  # predicted rows
        return Prediction(labels.tolist(), probabilities, names, problems,
                          frame.index.tolist(), threshold)

    def _predict_row(self, row: Mapping[str, Any], unknown: str, strict: bool,
                     threshold: float) -> Prediction:
        """One dict row without pandas: the compiled row encoder, then one forward pass."""
        if unknown not in ("error", "zeros"):
            raise ValueError("unknown must be 'error' or 'zeros'")
        x, problems = self.row_encoder.encode(row, unknown)
        errors = [p for p in problems if p.severity == "error"]
        names = list(self.encoder.class_names)
        if errors and (strict or errors[0].row == 0):
            more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise InputError(f"{errors[0]}{more}")
        if errors:
            return Prediction([None], np.full((1, len(names)), np.nan), names, problems, [1],
                              threshold)
        with torch.inference_mode():
            probs = to_probabilities(self.model(torch.from_numpy(x))).double().numpy()
        warning = sentence(row_unseen(self.known, row), len(self.known))
        if warning is not None:
            problems = [*problems, Problem(1, "", warning, "warning")]
        return Prediction([names[int(decide(probs, threshold)[0])]], probs, names, problems,
                          [1], threshold)

    def decision_grid(self, frame: pd.DataFrame, x: str, y: str, steps: int = 60) -> dict:
        """Predicted class over a grid of two numeric features, others held at their training
        median (numeric) or most frequent level; the plot builder draws it."""
        columns = {c.name: c for c in self.encoder.columns}
        for name in (x, y):
            if name not in columns or columns[name].kind != "numeric":
                raise InputError(f"'{name}' is not a numeric feature")
        base = {}
        for c in self.encoder.columns:
            if c.kind == "numeric":
                base[c.name] = c.fill
            else:
                values = frame[c.name].dropna().astype(str)
                base[c.name] = values.mode().iloc[0] if len(values) else c.levels[0]
        span = {n: (columns[n].low, columns[n].high) for n in (x, y)}
        pad = {n: 0.05 * (hi - lo or 1.0) for n, (lo, hi) in span.items()}
        xs = np.linspace(span[x][0] - pad[x], span[x][1] + pad[x], steps)
        ys = np.linspace(span[y][0] - pad[y], span[y][1] + pad[y], steps)
        gx, gy = np.meshgrid(xs, ys)
        grid = pd.DataFrame({**{k: [v] * gx.size for k, v in base.items()},
                             x: gx.ravel(), y: gy.ravel()})
        probs = predict_probabilities(self.model, self.encoder.transform(grid, "zeros"))
        return {"x_name": x, "y_name": y, "xs": xs.tolist(), "ys": ys.tolist(),
                "predicted": decide(probs, self.bundle.threshold).reshape(gy.shape).tolist(),
                "confidence": probs.max(axis=1).reshape(gy.shape).tolist(),
                "class_names": list(self.encoder.class_names)}
