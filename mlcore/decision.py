"""The decision rule, in one place: class probabilities in, class indices out.

Two classes: class 1 (the positive class) when P(class 1) >= threshold; more classes: the
most probable class. The trainer, Report, Predictor, the CLI and the raw ONNX graph all
decide with this rule (the graph mirrors it node for node, see onnx_raw.py).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .errors import SettingError

DEFAULT_THRESHOLD = 0.5


def decide(probabilities: np.ndarray | torch.Tensor,
           threshold: float = DEFAULT_THRESHOLD) -> np.ndarray | torch.Tensor:
    """Class index per row of `probabilities` [rows, classes] (numpy or torch, int64 out)."""
    if probabilities.shape[1] == 2:
        chosen = probabilities[:, 1] >= threshold
    else:
        chosen = probabilities.argmax(1)
    return chosen.long() if torch.is_tensor(chosen) else chosen.astype(np.int64)


def check_threshold(threshold: float, class_names: list[str], where: str = "--threshold"
                    ) -> float:
    """The threshold as a float in (0, 1), refused in one line for a model with more than
    two classes (they decide by the most probable class)."""
    if len(class_names) != 2:
        raise SettingError(f"{where} applies to two-class models only; this one has "
                           f"{len(class_names)} classes and predicts the most probable one")
    value = float(threshold)
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise SettingError(f"{where} must be between 0 and 1 (exclusive), not {threshold}")
    return value


def margin(probabilities: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """How far each row is from the decision flipping: |P(class 1) - threshold| for two
    classes, else the gap between the two most probable classes."""
    if probabilities.shape[1] == 2:
        return np.abs(probabilities[:, 1] - threshold)
    if probabilities.shape[1] < 2:
        return np.full(len(probabilities), np.inf)
    top = np.sort(probabilities, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]
