"""Hyperparameter search with Optuna: a seeded TPE sampler proposes recipes around the
default preset, each trial trains on the training part and is scored on the validation
part (never the test part), unpromising trials are pruned epoch by epoch on their
validation accuracy, every trial is kept as a record, and the best trial's run is the model.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable

import optuna

from .bundle import Bundle
from .errors import SchemaError
from .model import ModelConfig
from .training import EpochStats, TrainConfig
from .workflow import Prepared, Run, fit, refit_run

WIDTHS = (16, 32, 64, 128, 256)
MAX_TRIALS, MAX_TIMEOUT_S = 500, 86_400.0  # a search's bounds, checked by every caller
MAX_KEPT_PARAMETERS = 20_000_000  # finished trials' weights a search keeps as runs (80 MB)


@dataclass
class TrialRecord:
    """One trial: its number, state ("complete", "pruned", or "stopped" when the search was
    stopped during it), the recipe it tried, its best validation accuracy and loss, epochs
    run, seconds, and whether its model was kept (a trial that trained to its end or its
    stop, within MAX_KEPT_PARAMETERS: it becomes a run in the store)."""

    number: int
    state: str
    params: dict
    validation_accuracy: float | None
    validation_loss: float | None
    epochs_run: int
    seconds: float
    model_config: dict = field(default_factory=dict)
    train_config: dict = field(default_factory=dict)
    kept: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> TrialRecord:
        """A record as SearchResult.to_dict stored it; ValueError when it is not one (a
        bundle's metrics are untrusted bytes)."""
        if not isinstance(data, dict):
            raise ValueError("a trial record is a JSON object")
        names = {f.name for f in fields(cls)}
        try:
            record = cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as err:
            raise ValueError(f"a trial record lacks a field ({err})") from None
        if not isinstance(record.params, dict) or not isinstance(record.number, int):
            raise ValueError("a trial record's number or params are of the wrong type")
        return record

    def params_text(self) -> str:
        """The recipe it tried, e.g. 'depth 2, width 64, activation relu, lr 0.00312'."""
        return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in self.params.items())


@dataclass
class SearchResult:
    """Every trial in order, the best one, the best one's trained run (the model) and the
    kept trials' bundles by trial number (the best one's included)."""

    trials: list[TrialRecord]
    best: TrialRecord
    run: Run
    bundles: dict[int, Bundle] = field(default_factory=dict)

    def others(self) -> list[Bundle]:
        """The kept trials' bundles but the best one's, in trial order."""
        return [b for n, b in sorted(self.bundles.items()) if n != self.best.number]

    def to_dict(self) -> dict:
        return {"trials": [asdict(t) for t in self.trials], "best": asdict(self.best)}


def stored_trials(found: object) -> tuple[list[TrialRecord], TrialRecord]:
    """A bundle's metrics["search"] (SearchResult.to_dict) as records and the best one;
    ValueError in one sentence when it is not that."""
    if not isinstance(found, dict) or not isinstance(found.get("trials"), list):
        raise ValueError("its search record is not a list of trials")
    return ([TrialRecord.from_dict(t) for t in found["trials"]],
            TrialRecord.from_dict(found.get("best")))


def suggest(trial: optuna.Trial, model: ModelConfig, train: TrainConfig
            ) -> tuple[ModelConfig, TrainConfig]:
    """The recipe a trial tries: depth, width, activation, dropout, learning rate, weight
    decay and batch size around the given (default) recipe; the ensemble size is kept."""
    depth = trial.suggest_int("depth", 1, 3)
    width = trial.suggest_categorical("width", WIDTHS)
    model = replace(model, hidden=(width,) * depth,
                    activation=trial.suggest_categorical("activation", ["relu", "gelu", "tanh"]),
                    dropout=trial.suggest_float("dropout", 0.0, 0.4))
    batch = trial.suggest_int("batch_size_log2", 4, 9)
    train = replace(train, optimizer="adamw", lr=trial.suggest_float("lr", 3e-4, 3e-2, log=True),
                    weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
                    batch_size=2 ** batch)
    return model, train


def search(prepared: Prepared, trials: int = 20, timeout_s: float | None = None, seed: int = 1,
           model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
           on_trial: Callable[[TrialRecord], None] | None = None,
           on_epoch: Callable[[int, EpochStats], None] | None = None,
           stop: threading.Event | None = None, refit: bool = False) -> SearchResult:
    """Run up to `trials` trials (or until `timeout_s`, or `stop`) and return them all with
    the best one's run (with `refit`, retrained on training + validation rows for its best
    epoch's count, as workflow.fit does). Needs a validation part (prepare(...,
    validation_fraction=0.2)). `on_trial(record)` after each trial; `on_epoch(trial
    number, stats)` inside them."""
    if "validation" not in prepared.arrays:
        raise SchemaError("search scores trials on a validation set: set a validation "
                          "fraction (e.g. 0.2)")
    from .presets import get_preset  # presets imports training, as this module does
    base = get_preset("default", len(prepared.arrays["train"][0]),
                      len(prepared.encoder.class_names), seed)
    model_config, train_config = model_config or base.model, train_config or base.train
    records: list[TrialRecord] = []
    best: dict = {"score": -math.inf, "run": None}
    kept: dict[int, Bundle] = {}

    def objective(trial: optuna.Trial) -> float:
        model, train = suggest(trial, model_config, train_config)
        began, seen = time.perf_counter(), []

        def epoch(stats: EpochStats) -> None:
            seen.append(stats)
            if on_epoch is not None:
                on_epoch(trial.number, stats)
            trial.report(stats.eval_accuracy, stats.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        try:
            run = fit(prepared, model, train, on_epoch=epoch, stop=stop)
        except optuna.TrialPruned:
            records.append(_record(trial, "pruned", model, train, seen, None, began))
            raise
        score = run.reports["validation"].accuracy
        run.bundle.metrics["trial"] = trial.number
        state = "stopped" if run.history.stopped == "user" else "complete"  # cut short
        records.append(_record(trial, state, model, train, seen, run, began,
                               keep(kept, trial.number, run.bundle)))
        # ties go to the lower validation loss, then the earlier trial
        key = (score, -run.reports["validation"].log_loss)
        if best["run"] is None or key > best["score"]:
            best.update(score=key, run=run, record=records[-1], configs=(model, train))
        return score

    def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if records and records[-1].number == trial.number and on_trial is not None:
            on_trial(records[-1])
        if stop is not None and stop.is_set():
            study.stop()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3,
                                                                   n_warmup_steps=10))
    study.optimize(objective, n_trials=trials, timeout=timeout_s, callbacks=[after])
    if best["run"] is None:
        raise SchemaError("no trial finished: give the search more trials or time")
    if refit and best["run"].history.best_epoch:
        best["run"] = refit_run(best["run"], prepared, *best["configs"], stop)
    return SearchResult(records, best["record"], best["run"], kept)


def keep(kept: dict[int, Bundle], number: int, bundle: Bundle) -> bool:
    """Keep a finished trial's bundle while all the kept weights stay within
    MAX_KEPT_PARAMETERS (a search's memory is bounded whatever its trials' sizes)."""
    def size(b: Bundle) -> int:
        return sum(t.numel() for t in b.state_dict.values())

    if sum(size(b) for b in kept.values()) + size(bundle) > MAX_KEPT_PARAMETERS:
        return False
    kept[number] = bundle
    return True


def _record(trial: optuna.Trial, state: str, model: ModelConfig, train: TrainConfig,
            seen: list[EpochStats], run: Run | None, began: float,
            kept: bool = False) -> TrialRecord:
    """A trial's record: at its validation report when it finished, else its last epoch."""
    if run is not None:
        report = run.reports["validation"]
        accuracy, loss = report.accuracy, report.log_loss
    else:
        accuracy = seen[-1].eval_accuracy if seen else None
        loss = seen[-1].eval_loss if seen else None
    return TrialRecord(trial.number, state, dict(trial.params), accuracy, loss, len(seen),
                       time.perf_counter() - began, model.to_dict(), train.to_dict(), kept)
