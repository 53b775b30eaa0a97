"""The workflow glue used by the CLI and the pages: split and encode a table, then fit,
evaluate and bundle a model. Each step is also usable on its own."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .bundle import Bundle
from .checkpoint import fingerprint
from .encoder import Encoder, Problem
from .errors import SchemaError, TableError
from .metrics import Report, evaluate, stored_metrics
from .model import ModelConfig, build_model
from .schema import Schema, as_numbers, with_bins
from .split import stratified_split
from .table import Limits, ReadOptions, Table, read_table
from .training import EpochStats, History, TrainConfig, TrainData, train
from .validation import check_encoding_size, validate


@dataclass
class Prepared:
    """The split rows, the encoder fitted on the training rows, and the encoded arrays."""

    schema: Schema
    encoder: Encoder
    parts: dict[str, pd.DataFrame]                   # "train", "test", maybe "validation"
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]  # same keys: (X float32, y int64)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def eval_name(self) -> str:
        """The per-epoch eval set: validation when there is one, else test."""
        return "validation" if "validation" in self.arrays else "test"

    def train_data(self) -> TrainData:
        """Tensors for the trainer, with the eval_name part as the per-epoch eval set."""
        X, y = self.arrays["train"]
        X_eval, y_eval = self.arrays[self.eval_name]
        return TrainData(torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(X_eval),
                         torch.from_numpy(y_eval), self.eval_name)

    def without_validation(self) -> Prepared:
        """The same split with the validation rows put back into the training part (same
        encoder), for a final fit on every row a model may learn from."""
        names = [name for name in ("train", "validation") if name in self.arrays]
        parts = {"train": pd.concat([self.parts[n] for n in names]), "test": self.parts["test"]}
        arrays = {"train": tuple(np.concatenate([self.arrays[n][i] for n in names])
                                 for i in (0, 1)), "test": self.arrays["test"]}
        return Prepared(self.schema, self.encoder, parts, arrays, self.warnings)


def prepare(frame: pd.DataFrame, schema: Schema, test_frame: pd.DataFrame | None = None,
            test_fraction: float = 0.2, validation_fraction: float = 0.0, seed: int = 1,
            scaling: str = "zscore", source: str | None = None,
            encoder: Encoder | None = None) -> Prepared:
    """Validate, split (given test rows, or stratified and seeded), fit the encoder on the
    training rows (or reuse `encoder`, to continue training a saved model) and encode every
    part. Unseen categories in rows the encoder was not fitted on become warnings."""
    validate(frame, schema, source)
    frame = with_bins(frame, schema)
    if test_frame is not None:
        test_frame = with_bins(test_frame, schema)
    check_encoding_size(frame, schema, len(frame) + (len(test_frame) if test_frame is not None
                                                     else 0))
    if test_frame is not None:
        if list(test_frame.columns) != list(frame.columns):
            raise SchemaError("the test file's columns differ from the training file's: "
                              f"{list(test_frame.columns)} vs {list(frame.columns)}")
        train_rows, test_rows = frame, test_frame
    else:
        train_rows, test_rows = stratified_split(frame, schema.label, test_fraction, seed)
    parts = {"train": train_rows, "test": test_rows}
    if validation_fraction:
        parts["train"], parts["validation"] = stratified_split(
            train_rows, schema.label, validation_fraction, seed + 1)
    typed = {name: as_numbers(rows, schema) for name, rows in parts.items()}
    fitted = encoder is None
    encoder = encoder or Encoder.fit(typed["train"], schema, scaling)
    arrays, warnings = {}, []
    for name, rows in typed.items():
        unseen = "error" if fitted and name == "train" else "zeros"
        X, problems = encoder.checked(rows, unseen)
        arrays[name] = (X, encoder.encode_labels(rows))
        warnings += problems if unseen == "zeros" else []
    return Prepared(schema, encoder, parts, arrays, warnings)


@dataclass
class Run:
    """A finished training run: the model, its history, its reports and its bundle (for a
    search's best trial, the other kept trials' bundles too, to record as runs)."""

    model: nn.Module
    history: History
    reports: dict[str, Report]   # "train", "test" (and "validation")
    bundle: Bundle
    trials: list[Bundle] = field(default_factory=list)


def fit(prepared: Prepared, model_config: ModelConfig, train_config: TrainConfig,
        on_epoch: Callable[[EpochStats], None] | None = None,
        stop: threading.Event | None = None, checkpoint_dir: Path | str | None = None,
        resume: Path | str | None = None,
        initial_state: dict[str, torch.Tensor] | None = None,
        on_batch: Callable[[int, int, int], None] | None = None, refit: bool = False) -> Run:
    """Build the network (from `initial_state`'s weights when continuing a saved model),
    train it (checking that `resume` was trained for these settings and rows), evaluate
    every part and bundle the result. `on_batch(epoch, rows_done, rows_total)` reports
    progress inside long epochs (see training.train). With `refit` (and a validation part
    and early stopping), the model is then trained again from its initial weights on the
    training and validation rows for the best epoch's count (see refit_run)."""
    encoder = prepared.encoder
    model = build_model(encoder.n_features, len(encoder.class_names), model_config,
                        seed=train_config.seed)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    history = train(model, prepared.train_data(), train_config, on_epoch, stop,
                    checkpoint_dir, resume,
                    fingerprint(prepared.schema, encoder, model_config, train_config),
                    on_batch)
    model.cpu()
    run = finish(model, history, prepared, model_config, train_config)
    if refit and history.best_epoch and "validation" in prepared.arrays:
        return refit_run(run, prepared, model_config, train_config, stop, initial_state)
    return run


def refit_run(run: Run, prepared: Prepared, model_config: ModelConfig,
              train_config: TrainConfig, stop: threading.Event | None = None,
              initial_state: dict[str, torch.Tensor] | None = None) -> Run:
    """The early-stopped `run` retrained from the same initial weights on the training and
    validation rows together, for its best epoch's count: on small tables the fifth of the
    rows validation took away is worth more than the epochs it chose. The history (the
    curves) and the validation report stay the early-stopped model's, the only held-out
    judgement of the epoch count; history.refit_epochs says how long the refit ran. A run
    stopped (by `stop`) before or during the refit stays the early-stopped `run`: a refit
    cut short is a worse model than the one it would replace."""
    if stop is not None and stop.is_set():
        return run
    merged = prepared.without_validation()
    config = replace(train_config, epochs=run.history.best_epoch, patience=0,
                     checkpoint_every=0)
    model = build_model(prepared.encoder.n_features, len(prepared.encoder.class_names),
                        model_config, seed=train_config.seed)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    X, y = merged.arrays["train"]
    refitted = train(model, TrainData(torch.from_numpy(X), torch.from_numpy(y)), config,
                     stop=stop)  # no eval set: the test rows stay untouched until the end
    if refitted.stopped == "user":
        return run
    model.cpu()
    history = replace(run.history, refit_epochs=len(refitted.epochs),
                      train_seconds=run.history.train_seconds + refitted.train_seconds)
    final = finish(model, history, merged, model_config, train_config)
    final.reports["validation"] = run.reports["validation"]
    final.bundle.metrics = stored_metrics(final.reports)
    return final


def finish(model: nn.Module, history: History, prepared: Prepared, model_config: ModelConfig,
           train_config: TrainConfig) -> Run:
    """Evaluate a trained model on every part and wrap it all in a Bundle."""
    names = prepared.encoder.class_names
    reports = {name: evaluate(model, X, y, names) for name, (X, y) in prepared.arrays.items()}
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    bundle = Bundle(prepared.schema, prepared.encoder, model_config, train_config, state,
                    stored_metrics(reports), history.to_dict())
    return Run(model, history, reports, bundle)


def evaluate_bundle(bundle: Bundle, frame: pd.DataFrame, test_frame: pd.DataFrame | None = None,
                    test_fraction: float = 0.2, seed: int = 1
                    ) -> tuple[dict[str, Report], dict[str, pd.DataFrame]]:
    """Evaluate a saved model on a labelled table split as `prepare` splits it (the given
    test rows, or a stratified seeded fraction): reports and rows per part, "train" and
    "test". Raises SchemaError when the table lacks a column the model needs, InputError
    for a label the model does not know or text in a numeric column."""
    encoder = bundle.encoder
    frame = with_bins(frame, bundle.schema)
    test_frame = with_bins(test_frame, bundle.schema) if test_frame is not None else None
    needed = encoder.input_columns + [encoder.label]
    for rows in (frame, test_frame):
        missing = [name for name in needed if rows is not None and name not in rows.columns]
        if missing:
            raise SchemaError(f"the table has no column {', '.join(map(repr, missing))}; "
                              f"the model needs {', '.join(needed)}")
    if test_frame is not None:
        parts = {"train": frame, "test": test_frame}
    else:
        train_rows, test_rows = stratified_split(frame, encoder.label, test_fraction, seed)
        parts = {"train": train_rows, "test": test_rows}
    model = bundle.build_model()
    reports = {name: evaluate(model, encoder.transform(rows, "zeros"),
                              encoder.encode_labels(rows), encoder.class_names,
                              bundle.threshold)
               for name, rows in parts.items()}
    return reports, parts


def read_like(source: bytes | str | Path, schema: Schema, name: str | None = None,
              header: bool | None = None, limits: Limits = Limits(),
              options: ReadOptions = ReadOptions()) -> Table:
    """Read rows meant for a trained model: with a header naming its columns, or without one
    holding every column of the training file, all but the label, or just the feature
    columns, in order."""
    features = [c.name for c in schema.features]
    unlabelled = [n for n in schema.names if n != schema.label]
    one = len(features) == 1
    table = read_table(source, name, header=header, limits=limits, one_column=one,
                       options=options)
    if table.has_header and not set(features) <= set(table.frame.columns) and \
            options.header is None and header is None:
        table = read_table(source, name, header=False, limits=limits, one_column=one,
                           options=options)
    if not table.has_header:
        width = len(table.frame.columns)
        names = {len(schema.names): schema.names, len(unlabelled): unlabelled,
                 len(features): features}.get(width)
        if names is None:
            raise TableError(f"found {width} columns; expected {len(schema.names)} "
                             f"({', '.join(schema.names)}) or {len(unlabelled)} without the "
                             f"label '{schema.label}'" + (
                                 f" or the {len(features)} feature columns"
                                 if len(features) != len(unlabelled) else ""), table.name)
        table.frame.columns = list(names)
    return table
