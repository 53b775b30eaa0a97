"""The overfit-first debugging habit: a network that cannot memorise 32 rows has a bug
(or the data a problem) that more epochs will not fix."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from .metrics import evaluate
from .model import ModelConfig, build_model
from .training import TrainConfig, TrainData, train


@dataclass
class OverfitResult:
    """How well the network fits a tiny subset, and a verdict in plain words."""

    rows: int
    epochs: int
    correct: int
    accuracy: float
    final_loss: float
    passed: bool
    message: str


def overfit_check(X: np.ndarray, y: np.ndarray, n_classes: int, model_config: ModelConfig,
                  rows: int = 32, epochs: int = 300, seed: int = 1, device: str = "auto",
                  target: float = 0.95) -> OverfitResult:
    """Train on `rows` random rows (full batch, Adam, no dropout) and report whether
    training accuracy on them reaches `target`."""
    pick = np.random.default_rng(seed).permutation(len(X))[:rows]
    Xs, ys = torch.from_numpy(np.asarray(X)[pick]), torch.from_numpy(np.asarray(y)[pick])
    config = replace(model_config, dropout=0.0)
    model = build_model(Xs.shape[1], n_classes, config, seed=seed)
    history = train(model, TrainData(Xs, ys), TrainConfig(
        optimizer="adam", lr=0.01, batch_size=len(pick), epochs=epochs, seed=seed,
        device=device))
    model.cpu()
    report = evaluate(model, Xs, ys, [str(i) for i in range(n_classes)])
    passed = report.accuracy >= target
    verdict = (f"Yes: it fits {report.n_correct} of {report.n} rows ({report.accuracy:.0%}) "
               f"after {epochs} epochs, so the network and the encoded data can learn."
               if passed else
               f"No: it fits only {report.n_correct} of {report.n} rows "
               f"({report.accuracy:.0%}) after {epochs} epochs. Something is off: check the "
               "label column, rows that contradict each other, or make the network larger.")
    return OverfitResult(report.n, epochs, report.n_correct, report.accuracy,
                         history.last.train_loss, passed, verdict)
