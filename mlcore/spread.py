"""How much a result moves: one recipe trained with several seeds on one split, or k-fold
cross-validation over a small table, summarised as mean ± sd of each part's accuracy.

A single seed's test accuracy on 40 rows swings by several points; these say by how much.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from .errors import SchemaError
from .model import ModelConfig
from .schema import Schema, with_bins
from .training import TrainConfig
from .workflow import Prepared, Run, fit, prepare


@dataclass
class SpreadRun:
    """One run of a spread: its seed (or fold), accuracy per part, epochs and seconds."""

    seed: int
    fold: int | None
    accuracy: dict[str, float]
    epochs_run: int
    best_epoch: int | None
    train_seconds: float
    members: dict | None = None   # the test part's per-member spread, for an ensemble


@dataclass
class Spread:
    """Several runs of one recipe; `runs` are kept only when asked (models in memory)."""

    kind: str                      # "seeds" or "cv"
    records: list[SpreadRun]
    runs: list[Run] = field(default_factory=list)

    def accuracies(self, part: str = "test") -> list[float]:
        return [r.accuracy[part] for r in self.records if part in r.accuracy]

    def mean(self, part: str = "test") -> float:
        return float(np.mean(self.accuracies(part)))

    def sd(self, part: str = "test") -> float:
        """The sample standard deviation (n - 1); 0 for a single run."""
        values = self.accuracies(part)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def summary(self, part: str = "test") -> str:
        """E.g. 'test accuracy 81.5% ± 2.1% (sd) over 5 seeds, 77.5% to 85.0%'."""
        values = self.accuracies(part)
        what = f"{len(values)} seeds" if self.kind == "seeds" else f"{len(values)} folds"
        return (f"{part} accuracy {self.mean(part):.1%} ± {self.sd(part):.1%} (sd) over "
                f"{what}, {min(values):.1%} to {max(values):.1%}")

    def to_dict(self) -> dict:
        parts = sorted({p for r in self.records for p in r.accuracy})
        return {"kind": self.kind, "runs": [vars(r) for r in self.records],
                **{part: {"mean": self.mean(part), "sd": self.sd(part),
                          "min": min(self.accuracies(part)), "max": max(self.accuracies(part)),
                          "accuracy": self.accuracies(part)} for part in parts}}


def _record(run: Run, seed: int, fold: int | None) -> SpreadRun:
    history = run.history
    test = run.reports.get("test")
    return SpreadRun(seed, fold, {name: r.accuracy for name, r in run.reports.items()},
                     len(history.epochs), history.best_epoch, history.train_seconds,
                     test.members() if test is not None else None)


def fit_seeds(prepared: Prepared, model_config: ModelConfig, train_config: TrainConfig,
              seeds: int | list[int] = 5, keep_runs: bool = False,
              on_seed: Callable[[SpreadRun], None] | None = None, **fit_args) -> Spread:
    """Train the same recipe on the same split once per seed (1..N, or the seeds given:
    each changes the initial weights, the batch order and dropout) and report the spread.
    `fit_args` (on_epoch, stop, ...) go to workflow.fit."""
    chosen = list(range(1, seeds + 1)) if isinstance(seeds, int) else list(seeds)
    if not chosen:
        raise ValueError("fit_seeds needs at least one seed")
    spread = Spread("seeds", [])
    for seed in chosen:
        run = fit(prepared, model_config, replace(train_config, seed=seed), **fit_args)
        spread.records.append(_record(run, seed, None))
        if keep_runs:
            spread.runs.append(run)
        if on_seed is not None:
            on_seed(spread.records[-1])
    return spread


def folds(frame: pd.DataFrame, schema: Schema, k: int, seed: int = 1) -> list[np.ndarray]:
    """k disjoint position arrays covering every row, each class (each bin, for a binned
    label) dealt round-robin after a seeded shuffle, so every fold holds about 1/k of it."""
    if k < 2:
        raise SchemaError(f"cross-validation needs at least 2 folds (got {k})")
    labels = with_bins(frame, schema)[schema.label].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for cls in sorted(set(labels)):
        positions = np.flatnonzero(labels == cls)
        rng.shuffle(positions)
        for i, position in enumerate(positions):
            out[(start + i) % k].append(int(position))
        start += len(positions)
    if min(len(f) for f in out) == 0:
        raise SchemaError(f"too few rows ({len(frame)}) for {k} folds")
    return [np.sort(np.array(f)) for f in out]


def cross_validate(frame: pd.DataFrame, schema: Schema, model_config: ModelConfig,
                   train_config: TrainConfig, k: int = 5, scaling: str = "zscore",
                   validation_fraction: float = 0.0, seed: int = 1,
                   on_fold: Callable[[SpreadRun], None] | None = None,
                   **fit_args) -> Spread:
    """k-fold cross-validation: each fold is the test set once, the encoder is fitted on
    the other folds (less the validation rows, when asked for), one model per fold; the
    folds are stratified by class, by bin for a binned label."""
    spread = Spread("cv", [])
    for fold, held in enumerate(folds(frame, schema, k, seed)):
        mask = np.zeros(len(frame), dtype=bool)
        mask[held] = True
        prepared = prepare(frame[~mask], schema, frame[mask],
                           validation_fraction=validation_fraction, seed=seed + fold,
                           scaling=scaling)
        run = fit(prepared, model_config, replace(train_config, seed=seed), **fit_args)
        spread.records.append(_record(run, seed, fold))
        if on_fold is not None:
            on_fold(spread.records[-1])
    return spread

