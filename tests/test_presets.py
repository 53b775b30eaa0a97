"""Issue 13: the "default" and "classic" presets, the articles' encoding (0/1 columns stay
0/1 under 'none' and 'divisor' scaling), Xavier init, and early stopping on validation
restoring the best epoch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mlcore.encoder import Encoder
from mlcore.model import ModelConfig, build_model
from mlcore.presets import PRESETS, default_batch_size, get_preset
from mlcore.schema import infer_schema
from mlcore.training import TrainConfig, TrainData, train
from mlcore.workflow import fit, prepare


def test_presets_give_configs():
    for name in PRESETS:
        model, train_config, scaling = get_preset(name).configs()
        assert isinstance(model, ModelConfig) and isinstance(train_config, TrainConfig)
        assert scaling in ("zscore", "divisor")
    default = get_preset("default", n_rows=40_000)
    assert default.model.ensemble > 1 and default.validation_fraction > 0
    assert default.train.patience > 0 and default.train.batch_size == 256 and default.refit
    classic = get_preset("classic", n_classes=3)
    assert classic.model.hidden == (10, 10) and classic.model.activation == "tanh"
    assert (classic.train.optimizer, classic.train.lr, classic.train.momentum,
            classic.train.batch_size, classic.train.epochs) == ("sgd", 0.01, 0.0, 10, 1000)
    assert classic.scaling == "divisor" and classic.validation_fraction == 0.0
    people = get_preset("classic", n_classes=2)
    assert people.model.binary_head == "sigmoid" and people.train.epochs == 500
    with pytest.raises(ValueError, match="known: default, classic"):
        get_preset("fancy")
    assert [default_batch_size(n) for n in (40, 200, 1000, 40_000)] == [16, 16, 64, 256]


def test_classic_encoding_is_the_articles(students_prepared):
    frame = pd.DataFrame({"sex": ["M", "F"] * 4, "units": ["39.5", "27.5", "22.0", "59.5"] * 2,
                          "flag": ["0", "1", "1", "0"] * 2, "major": ["a", "b"] * 4})
    schema = infer_schema(frame, label="major")
    divisor = Encoder.fit(frame, schema, "divisor").encode(frame)
    assert divisor[0].tolist() == pytest.approx([1.0, 0.395, 0.0])  # M = +1, /100, 0/1 kept
    assert Encoder.fit(frame, schema, "none").encode(frame)[1].tolist() == \
        pytest.approx([-1.0, 27.5, 1.0])
    assert Encoder.fit(frame, schema, "zscore").encode(frame)[0][2] == -1.0  # ±1 as before


def test_xavier_init():
    model = build_model(6, 3, ModelConfig(hidden=(10, 10), init="xavier"), seed=1)
    bound = (6.0 / (6 + 10)) ** 0.5
    assert model[0].weight.abs().max() <= bound and torch.all(model[0].bias == 0)
    again = build_model(6, 3, ModelConfig(hidden=(10, 10), init="xavier"), seed=1)
    assert torch.equal(model[0].weight, again[0].weight)


def test_early_stopping_restores_the_best_validation_epoch():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(120, 5, generator=g)
    y = (X[:, 0] > 0).long()
    flip = torch.rand(120, generator=g) < 0.3  # noisy labels: it will overfit
    y = torch.where(flip, 1 - y, y)
    data = TrainData(X[:80], y[:80], X[80:], y[80:], "validation")
    model = build_model(5, 2, ModelConfig(hidden=(64, 64), ensemble=3), seed=1)
    history = train(model, data, TrainConfig(lr=0.03, batch_size=16, epochs=200, patience=8,
                                             device="cpu"))
    assert history.stopped == "early" and history.best_epoch < len(history.epochs)
    losses = [e.eval_loss for e in history.epochs]
    assert history.best_epoch == int(np.argmin(losses)) + 1
    with torch.inference_mode():
        logits = model(X[80:])
    restored = torch.nn.functional.cross_entropy(logits, y[80:]).item()
    assert restored == pytest.approx(min(losses), rel=1e-5)


def test_default_recipe_curves_are_validation(students_prepared):
    recipe = get_preset("default", 200, 3)
    frame = students_prepared.parts["train"]
    prepared = prepare(frame, students_prepared.schema, students_prepared.parts["test"],
                       validation_fraction=recipe.validation_fraction, scaling=recipe.scaling)
    seen = []
    run = fit(prepared, ModelConfig(hidden=(8,), ensemble=2),
              TrainConfig(epochs=6, patience=3), on_epoch=seen.append)
    assert run.history.eval_name == "validation" and seen[0].eval_accuracy is not None
    assert set(run.reports) == {"train", "validation", "test"}


def test_refit_trains_on_validation_rows_for_the_best_epoch_count(students_prepared):
    prepared = prepare(students_prepared.parts["train"], students_prepared.schema,
                       students_prepared.parts["test"], validation_fraction=0.2)
    config = TrainConfig(lr=0.05, epochs=60, patience=5)
    early = fit(prepared, ModelConfig(hidden=(32,), ensemble=2), config)
    run = fit(prepared, ModelConfig(hidden=(32,), ensemble=2), config, refit=True)
    assert run.history.best_epoch == early.history.best_epoch
    assert run.history.refit_epochs == early.history.best_epoch
    assert run.reports["train"].n == 200  # training + validation rows
    assert run.reports["validation"].accuracy == early.reports["validation"].accuracy
    assert run.bundle.metrics["validation"] == early.bundle.metrics["validation"]
    assert set(run.reports) == {"train", "validation", "test"}


def test_a_stopped_run_is_not_refitted(students_prepared):
    """Stop pressed while training: the early-stopped model is kept, not a refit cut short
    at once (it used to be refitted for 0 epochs and returned)."""
    import threading
    prepared = prepare(students_prepared.parts["train"], students_prepared.schema,
                       students_prepared.parts["test"], validation_fraction=0.2)
    stop = threading.Event()

    def press_stop(stats) -> None:
        if stats.epoch == 5:
            stop.set()

    run = fit(prepared, ModelConfig(hidden=(8,), ensemble=2),
              TrainConfig(epochs=50, patience=10), on_epoch=press_stop, stop=stop, refit=True)
    assert run.history.stopped == "user" and run.history.refit_epochs == 0
    assert run.reports["train"].n < 200  # the training rows alone: no refit ran
