"""How much of a row the model actually saw: the one rule for "most features missing".

A row whose feature cells are mostly missing or categories the training rows never had is
predicted from the training rows' fills and zeros, so its confidence means little; the
form, batch predictions and the CLI all say so, by this rule.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from .encoder import MAX_PROBLEMS, MISSING_LEVEL, OTHER_LEVEL, Encoder, Problem
from .row_encoder import cell_text
from .schema import text_array

MOSTLY = 0.5  # at least this share of the feature columns missing or unseen: warn


def known_levels(encoder: Encoder) -> dict[str, set[str] | None]:
    """Per input column: the categories seen in training (None for numbers, dates and
    top-K columns, whose '(other)' level stands for every category beyond the K)."""
    known: dict[str, set[str] | None] = {}
    for c in encoder.columns:
        if c.kind in ("binary", "categorical") and OTHER_LEVEL not in c.levels:
            known[c.name] = set(c.levels) - {MISSING_LEVEL}
        else:
            known.setdefault(c.name, None)
    return known


def unseen_counts(encoder: Encoder, frame: pd.DataFrame) -> np.ndarray:
    """Per row, how many feature columns are missing or hold an unseen category."""
    count = np.zeros(len(frame), dtype=np.int64)
    for name, levels in known_levels(encoder).items():
        if name not in frame.columns:
            count += 1
            continue
        column = frame[name]
        missing = column.isna().to_numpy(copy=True)
        if levels is not None:
            cells = pd.Series(text_array(column).to_numpy(zero_copy_only=False), dtype=object)
            missing |= ~cells.isin(levels).to_numpy()
        count += missing
    return count


def row_unseen(known: dict[str, set[str] | None], row: Mapping[str, Any]) -> int:
    """unseen_counts for one dict row, without pandas (the form's fast path); `known` from
    known_levels, computed once per model."""
    count = 0
    for name, levels in known.items():
        text = cell_text(row.get(name))
        count += text is None or (levels is not None and text not in levels)
    return count


def sentence(unseen: int, total: int) -> str | None:
    """The warning for a row with `unseen` of `total` feature columns missing or unseen."""
    if total == 0 or unseen / total < MOSTLY:
        return None
    return (f"{unseen} of {total} feature columns are missing or unseen, so this prediction "
            "rests mostly on the training rows' defaults; treat its confidence with care")


def coverage_problems(encoder: Encoder, frame: pd.DataFrame) -> list[Problem]:
    """A warning Problem for each row of `frame` that is mostly missing or unseen (at most
    MAX_PROBLEMS, then one that counts the rest)."""
    total = len(encoder.input_columns)
    if total == 0:
        return []
    unit = frame.index.name or "row"
    counts = unseen_counts(encoder, frame)
    flagged = np.flatnonzero(counts / total >= MOSTLY)
    problems = [Problem(int(frame.index[i]), "", sentence(int(counts[i]), total), "warning",
                        unit) for i in flagged[:MAX_PROBLEMS]]
    if len(flagged) > MAX_PROBLEMS:
        problems.append(Problem(0, "", f"and {len(flagged) - MAX_PROBLEMS:,} more rows "
                                "mostly missing or unseen", "warning", unit))
    return problems
