"""The encoder compiled for one row at a time: per column a dict lookup or a little
arithmetic, no pandas or Arrow per call, so a one-row prediction costs microseconds. It
gives the same numbers and the same problems as Encoder.transform/check on a one-row frame
(tests/test_row_encoder.py holds them to it)."""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np

from .encoder import (GAP_MESSAGE, MISSING_LEVEL, OTHER_LEVEL, ColumnEncoding, Encoder,
                      Problem, far_bounds, far_message, not_a_number, unseen_message)
from .schema import ISO_DATE
from .table import is_missing

DATE = re.compile(ISO_DATE)


def cell_text(value: Any) -> str | None:
    """A raw cell as the reader gives it: None when missing ('', 'NA', '?', NaN...), the
    float 3.0 as '3', anything else as its stripped text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return None if is_missing(text) else text


def _number(text: str) -> float | None:
    """The text's number, or None; as strict as the reader's cast ('1_000' and other
    scripts' digits are not numbers)."""
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def date_parts(text: str | None) -> dict[str, float]:
    """year, month, weekday (0 = Monday) and hour of an ISO 8601 date (in UTC when it has
    an offset), NaN when it is none: schema.datetime_values' rule for one cell."""
    try:
        when = datetime.fromisoformat(text) if text and DATE.match(text) else None
    except ValueError:
        when = None
    if when is not None and when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    if when is None:
        return {"year": math.nan, "month": math.nan, "weekday": math.nan, "hour": math.nan}
    return {"year": when.year, "month": when.month, "weekday": when.weekday(),
            "hour": when.hour}


class RowEncoder:
    """Encoder.transform for a single dict row, with the columns' lookups precomputed."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.width = encoder.n_features
        self.steps: list[tuple[ColumnEncoding, int, dict[str, int]]] = []
        offset = 0
        for c in encoder.columns:
            self.steps.append((c, offset, {level: i for i, level in enumerate(c.levels)}))
            offset += len(c.levels) if c.kind == "categorical" else 1

    def encode(self, row: Mapping[str, Any], unknown: str = "error"
               ) -> tuple[np.ndarray, list[Problem]]:
        """float32 [1, n_features] and the row's problems (row 1); a column missing from
        `row` is an error problem and leaves the row unencoded."""
        missing = [Problem(0, name, "the column is missing") for name in self.encoder.input_columns
                   if name not in row]
        if missing:
            return np.zeros((1, self.width), np.float32), missing
        out = np.zeros(self.width, dtype=np.float32)
        problems: list[Problem] = []
        texts = {name: cell_text(row[name]) for name in self.encoder.input_columns}
        dates: dict[str, dict[str, float]] = {}
        for c, offset, lookup in self.steps:
            text = texts[c.name]
            if c.kind == "datetime":
                part = dates.setdefault(c.name, date_parts(text))[c.part]
                out[offset] = ((c.fill if math.isnan(part) else part) - c.center) / c.scale
            elif c.kind == "numeric":
                out[offset] = self._numeric(c, text, problems)
            else:
                self._levels(c, offset, lookup, text, unknown, out, problems)
        return out.reshape(1, -1), problems

    @staticmethod
    def _numeric(c: ColumnEncoding, text: str | None, problems: list[Problem]) -> float:
        if text is None:
            return (c.fill - c.center) / c.scale
        value = _number(text)
        if value is None or math.isnan(value):
            if value is None:
                problems.append(Problem(1, c.name, not_a_number(text)))
            return (c.fill - c.center) / c.scale
        low, high = far_bounds(c)
        if value < low or value > high:
            problems.append(Problem(1, c.name, far_message(c, value), "warning"))
        return (value - c.center) / c.scale

    @staticmethod
    def _levels(c: ColumnEncoding, offset: int, lookup: dict[str, int], text: str | None,
                unknown: str, out: np.ndarray, problems: list[Problem]) -> None:
        if text is None:
            index = lookup.get(MISSING_LEVEL, -2)
        else:
            index = lookup.get(text, lookup.get(OTHER_LEVEL, -1))
        if index == -1:
            problems.append(Problem(1, c.name, unseen_message(c, text, unknown),
                                    "warning" if unknown == "zeros" else "error"))
        elif index == -2 and c.kind == "categorical":
            problems.append(Problem(1, c.name, GAP_MESSAGE, "warning"))
        if c.kind == "binary":
            out[offset] = -1.0 if index == 0 else 1.0 if index == 1 else 0.0
        elif index >= 0:
            out[offset + index] = 1.0
