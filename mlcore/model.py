"""The network: a plain MLP built from a small JSON-able config; logits out."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU}
BINARY_HEADS = ("softmax", "sigmoid")


@dataclass
class ModelConfig:
    """Hidden layer sizes, activation, dropout, and for two classes the output head:
    'softmax' (two logits, cross-entropy) or 'sigmoid' (one logit, BCE)."""

    hidden: tuple[int, ...] = (16, 16)
    activation: str = "tanh"
    dropout: float = 0.0
    binary_head: str = "softmax"

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{self.activation}' "
                             f"(choose {', '.join(ACTIVATIONS)})")
        if self.binary_head not in BINARY_HEADS:
            raise ValueError(f"binary_head must be one of {BINARY_HEADS}")
        if any(h < 1 for h in self.hidden) or not 0.0 <= self.dropout < 1.0:
            raise ValueError("hidden sizes must be >= 1 and dropout in [0, 1)")

    def outputs(self, n_classes: int) -> int:
        """Number of output logits: 1 for a sigmoid binary head, else one per class."""
        return 1 if n_classes == 2 and self.binary_head == "sigmoid" else n_classes

    def describe(self, n_features: int, n_classes: int) -> str:
        """The articles' notation, e.g. '6-(10-10)-3'."""
        hidden = "-".join(str(h) for h in self.hidden)
        return f"{n_features}-({hidden})-{self.outputs(n_classes)}" if hidden else \
            f"{n_features}-{self.outputs(n_classes)}"

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**{**data, "hidden": tuple(data["hidden"])})


class Dropout(nn.Module):
    """Dropout that draws its masks from a generator the trainer owns (not the global RNG),
    so concurrent jobs in one process stay reproducible and a checkpoint can hold its state."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)


def build_model(n_features: int, n_classes: int, config: ModelConfig,
                seed: int = 1) -> nn.Sequential:
    """Linear -> activation (-> dropout) per hidden layer, then a linear output of logits.
    Weights start as torch's default Linear init, drawn from a generator seeded by `seed`."""
    layers: list[nn.Module] = []
    width = n_features
    for size in config.hidden:
        layers += [nn.Linear(width, size), ACTIVATIONS[config.activation]()]
        if config.dropout:
            layers.append(Dropout(config.dropout))
        width = size
    layers.append(nn.Linear(width, config.outputs(n_classes)))
    model = nn.Sequential(*layers)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / max(layer.in_features, 1) ** 0.5
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
    return model


def set_dropout_generator(model: nn.Module, generator: torch.Generator | None) -> None:
    """Point every Dropout of the model at the trainer's generator."""
    for layer in model.modules():
        if isinstance(layer, Dropout):
            layer.generator = generator


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def to_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities [rows, n_classes] from logits; one logit means sigmoid, P(class 1)."""
    if logits.shape[1] == 1:
        positive = torch.sigmoid(logits)
        return torch.cat([1 - positive, positive], dim=1)
    return torch.softmax(logits, dim=1)


def loss_function(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean BCE-with-logits for one output, cross-entropy on logits otherwise."""
    if logits.shape[1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
    return nn.functional.cross_entropy(logits, targets)
