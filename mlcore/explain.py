"""Why the model decides as it does: permutation importance per column on held-out rows,
and, for one row, how each column moved the predicted class's probability.

Both work on raw columns, not encoded numbers: a one-hot column's numbers move together.
Encoding is column by column, so shuffling a column's encoded block across rows is the
same as shuffling its raw cells, at a fraction of the cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .bundle import Bundle
from .decision import decide
from .encoder import Encoder
from .metrics import predict_probabilities
from .predict import Predictor
from .schema import with_bins

MAX_ROWS = 5000   # held-out rows scored per shuffle (a sample beyond that): bounded cost


@dataclass
class Importance:
    """Accuracy lost when the column's values are shuffled: mean and sd over repeats."""

    column: str
    mean: float
    sd: float


@dataclass
class Effect:
    """How much the predicted class's probability falls when this column is unknown."""

    column: str
    value: Any
    change: float   # P(class | row) - P(class | row with the column missing)


def column_blocks(encoder: Encoder) -> dict[str, np.ndarray]:
    """The encoded column indices each raw column becomes."""
    blocks: dict[str, list[int]] = {}
    offset = 0
    for c in encoder.columns:
        width = len(c.levels) if c.kind == "categorical" else 1
        blocks.setdefault(c.name, []).extend(range(offset, offset + width))
        offset += width
    return {name: np.array(indices) for name, indices in blocks.items()}


def permutation_importance(model, X: np.ndarray, y: np.ndarray, encoder: Encoder,
                           threshold: float = 0.5, repeats: int = 5,
                           seed: int = 1) -> list[Importance]:
    """Per raw column, held-out accuracy minus accuracy with that column shuffled, over
    `repeats` seeded shuffles of at most MAX_ROWS rows; most important first."""
    rng = np.random.default_rng(seed)
    X, y = np.array(X, dtype=np.float32), np.asarray(y)  # a copy: shuffled in place
    if len(X) > MAX_ROWS:
        pick = rng.choice(len(X), MAX_ROWS, replace=False)
        X, y = X[pick], y[pick]

    def accuracy(rows: np.ndarray) -> float:
        return float((decide(predict_probabilities(model, rows), threshold) == y).mean())

    base = accuracy(X)
    found = []
    for name, block in column_blocks(encoder).items():
        kept, drops = X[:, block].copy(), []
        for _ in range(repeats):  # shuffle the block in place, then put it back
            X[:, block] = kept[rng.permutation(len(X))]
            drops.append(base - accuracy(X))
        X[:, block] = kept
        found.append(Importance(name, float(np.mean(drops)), float(np.std(drops))))
    return sorted(found, key=lambda i: -i.mean)


def held_out_importance(bundle: Bundle, rows: pd.DataFrame, repeats: int = 5,
                        seed: int = 1) -> list[Importance]:
    """permutation_importance of a bundle's model on labelled raw rows (at most MAX_ROWS of
    them, sampled with `seed`), encoded as for evaluation (unseen categories as zeros)."""
    rows = with_bins(rows, bundle.schema)
    if len(rows) > MAX_ROWS:
        rows = rows.sample(MAX_ROWS, random_state=seed)
    encoder = bundle.encoder
    return permutation_importance(bundle.build_model(), encoder.encode(rows),
                                  encoder.encode_labels(rows), encoder, bundle.threshold,
                                  repeats, seed)


def prediction_effects(predictor: Predictor, row: Mapping[str, Any]) -> tuple[str, list[Effect]]:
    """The predicted class for `row` and, per feature column, how far its probability falls
    when that column alone is replaced by what training used for a missing value."""
    features = predictor.features
    base = {name: row.get(name) for name in features}
    variants = [base] + [{**base, name: None} for name in features]
    frame = predictor.to_frame(pd.DataFrame(variants, dtype=object))
    probabilities = predict_probabilities(predictor.model, predictor.encoder.encode(frame))
    chosen = int(decide(probabilities[:1], predictor.bundle.threshold)[0])
    effects = [Effect(name, base[name], float(probabilities[0, chosen] - probabilities[i + 1, chosen]))
               for i, name in enumerate(features)]
    effects.sort(key=lambda e: -abs(e.change))
    return predictor.encoder.class_names[chosen], effects


def with_importance(run, prepared, repeats: int = 5, seed: int = 1):
    """The run with its bundle's metrics holding permutation importance on the test rows
    ("importance": column, mean, sd), as the model card and Evaluate show it."""
    X, y = prepared.arrays["test"]
    found = permutation_importance(run.model, X, y, prepared.encoder, run.bundle.threshold,
                                   repeats, seed)
    run.bundle.metrics["importance"] = [{"column": i.column, "mean": i.mean, "sd": i.sd}
                                        for i in found]
    return run
