"""Named training recipes: "default" (the best recipe bench/quality.py found: an ensemble
of 16 64-64 ReLU MLPs, AdamW lr 1e-3, with early stopping on a validation split, then refitted on the training and
validation rows for the best epoch's count) and "classic" (the articles' recipe:
10-10 tanh, SGD lr 0.01, batch 10, 1000 epochs, divide-by-a-power-of-ten scaling, -1/+1
for two-valued columns, Xavier weights, no validation). Figures: docs/benchmarks.md,
"Quality"."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .model import ModelConfig
from .training import TrainConfig

PRESETS = ("default", "classic")


@dataclass(frozen=True)
class Recipe:
    """Everything a preset sets: the network, the training, the numeric scaling, the
    fraction of the training rows held out as the validation set (0: none) and whether to
    refit on training + validation rows for the best epoch's count (workflow.fit refit)."""

    model: ModelConfig
    train: TrainConfig
    scaling: str
    validation_fraction: float
    refit: bool = False

    def configs(self) -> tuple[ModelConfig, TrainConfig, str]:
        """(ModelConfig, TrainConfig, scaling), as the CLI and the pages pass them on."""
        return self.model, self.train, self.scaling


def default_batch_size(n_rows: int) -> int:
    """The default recipe's batch: about 1/20 of the training rows, 16 to 256 (small tables
    get many small steps, large ones products big enough to be cheap per row)."""
    return min(256, max(16, 2 ** round(math.log2(max(n_rows, 1) / 20))))


def get_preset(name: str, n_rows: int = 200, n_classes: int = 3, seed: int = 1) -> Recipe:
    """The recipe called `name` for a table of `n_rows` training rows and `n_classes`
    classes (the default's batch size follows the rows; classic's binary head and epochs
    follow the people article for two classes); ValueError names the known presets."""
    if name == "default":
        return Recipe(
            ModelConfig(hidden=(64, 64), activation="relu", ensemble=16),
            TrainConfig(optimizer="adamw", lr=1e-3, weight_decay=3e-4,
                        batch_size=default_batch_size(n_rows), epochs=300, patience=16,
                        seed=seed),
            "zscore", 0.2, refit=True)
    if name == "classic":
        binary = n_classes == 2  # the people article: 8-(10-10)-1 sigmoid, BCE, 500 epochs
        return Recipe(
            ModelConfig(hidden=(10, 10), activation="tanh", init="xavier",
                        binary_head="sigmoid" if binary else "softmax"),
            TrainConfig(optimizer="sgd", lr=0.01, momentum=0.0, batch_size=10,
                        epochs=500 if binary else 1000, seed=seed),
            "divisor", 0.0)
    raise ValueError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
