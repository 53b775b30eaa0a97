"""The network: a plain MLP built from a small JSON-able config; logits out."""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .ensemble import EnsembleLinear, EnsembleMLP
from .errors import LimitError

MAX_PARAMETERS = 50_000_000   # default budget; STUDIO_MAX_PARAMETERS overrides it
MAX_HIDDEN_LAYERS = 64
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU}
BINARY_HEADS = ("softmax", "sigmoid")
INITS = ("torch", "xavier")   # torch's Linear default; Xavier-uniform weights, zero biases
MAX_MEMBERS = 64


@dataclass
class ModelConfig:
    """Hidden layer sizes, activation, dropout, for two classes the output head ('softmax':
    two logits, cross-entropy; 'sigmoid': one logit, BCE), the ensemble's member count
    (1: one plain MLP; K: K MLPs trained at once, see mlcore.ensemble) and the weights'
    initialisation ('torch': Linear's default; 'xavier': the articles' Xavier-uniform
    weights and zero biases)."""

    hidden: tuple[int, ...] = (16, 16)
    activation: str = "tanh"
    dropout: float = 0.0
    binary_head: str = "softmax"
    ensemble: int = 1
    init: str = "torch"

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{self.activation}' "
                             f"(choose {', '.join(ACTIVATIONS)})")
        if self.binary_head not in BINARY_HEADS:
            raise ValueError(f"binary_head must be one of {BINARY_HEADS}")
        if any(h < 1 for h in self.hidden) or not 0.0 <= self.dropout < 1.0:
            raise ValueError("hidden sizes must be >= 1 and dropout in [0, 1)")
        self.ensemble = int(self.ensemble)
        if not 1 <= self.ensemble <= MAX_MEMBERS:
            raise ValueError(f"the ensemble must have 1 to {MAX_MEMBERS} members "
                             f"(got {self.ensemble})")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}")

    def outputs(self, n_classes: int) -> int:
        """Number of output logits: 1 for a sigmoid binary head, else one per class."""
        return 1 if n_classes == 2 and self.binary_head == "sigmoid" else n_classes

    def describe(self, n_features: int, n_classes: int) -> str:
        """The articles' notation, e.g. '6-(10-10)-3', with '×K' for an ensemble."""
        hidden = "-".join(str(h) for h in self.hidden)
        text = f"{n_features}-({hidden})-{self.outputs(n_classes)}" if hidden else \
            f"{n_features}-{self.outputs(n_classes)}"
        return text + (f" ×{self.ensemble}" if self.ensemble > 1 else "")

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


def max_parameters() -> int:
    """The parameter budget: STUDIO_MAX_PARAMETERS when set, else MAX_PARAMETERS; read at
    each call so a server (or a test) can change it without a restart."""
    text = os.environ.get("STUDIO_MAX_PARAMETERS", "").strip()
    try:
        return int(text) if text else MAX_PARAMETERS
    except ValueError:
        raise LimitError(f"STUDIO_MAX_PARAMETERS must be a whole number of parameters "
                         f"(got {text!r})") from None


def planned_shapes(n_features: int, n_classes: int,
                   config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state_dict keys and tensor shapes build_model gives this config, worked out
    without tensors (nn.Sequential indices: Linear, activation, optional Dropout per layer;
    an ensemble's under 'body.', each with the member count first)."""
    shapes: dict[str, tuple[int, ...]] = {}
    step, width = 3 if config.dropout else 2, n_features
    k = config.ensemble
    prefix, members = ("body.", (k,)) if k > 1 else ("", ())
    outputs = [*config.hidden, config.outputs(n_classes)]
    for i, size in enumerate(outputs):
        key = f"{prefix}{i * step}"
        shapes[f"{key}.weight"], shapes[f"{key}.bias"] = (*members, size, width), (*members, size)
        width = size
    return shapes


def planned_parameters(n_features: int, n_classes: int, config: ModelConfig) -> int:
    """count_parameters(build_model(...)) by arithmetic alone, so sizing costs no memory."""
    return sum(math.prod(shape) for shape in
               planned_shapes(n_features, n_classes, config).values())


def _shown(hidden: tuple[int, ...]) -> str:
    """Hidden sizes for a message: at most eight, each at most 15 digits."""
    sizes = [f"{h}" if h < 10**15 else "10^15+" for h in hidden[:8]]
    return "[" + ", ".join(sizes + ["..."] * (len(hidden) > 8)) + "]"


def check_size(n_features: int, n_classes: int, config: ModelConfig,
               where: str = "the network") -> int:
    """The network's parameter count, or LimitError (one sentence naming `where` and its
    hidden sizes) when it is over the budget: checked before anything is allocated."""
    if len(config.hidden) > MAX_HIDDEN_LAYERS:
        raise LimitError(f"{where}: hidden has {len(config.hidden):,} layers, over the limit "
                         f"of {MAX_HIDDEN_LAYERS}")
    count, limit = planned_parameters(n_features, n_classes, config), max_parameters()
    if count > limit:
        amount = f"{count:,}" if count < 10**18 else "over 10^18"
        raise LimitError(f"{where}: hidden {_shown(config.hidden)} with {n_features:,} inputs "
                         f"and {config.outputs(n_classes):,} outputs"
                         + (f", {config.ensemble} members," if config.ensemble > 1 else "")
                         + f" makes {amount} parameters, "
                         f"over the limit of {limit:,} (STUDIO_MAX_PARAMETERS)")
    return count


def build_model(n_features: int, n_classes: int, config: ModelConfig,
                seed: int = 1) -> nn.Module:
    """Linear -> activation (-> dropout) per hidden layer, then a linear output of logits:
    an nn.Sequential, or for an ensemble an EnsembleMLP of K such stacks. Weights start as
    config.init says, drawn from a generator seeded by `seed`, member after member (so
    member 0 starts as the one-member network of the same seed). A network over the
    parameter budget raises LimitError before anything is allocated."""
    check_size(n_features, n_classes, config)
    k = config.ensemble
    linear = nn.Linear if k == 1 else (lambda n_in, n_out: EnsembleLinear(k, n_in, n_out))
    layers: list[nn.Module] = []
    width = n_features
    for size in config.hidden:
        layers += [linear(width, size), ACTIVATIONS[config.activation]()]
        if config.dropout:
            layers.append(Dropout(config.dropout))
        width = size
    layers.append(linear(width, config.outputs(n_classes)))
    body = nn.Sequential(*layers)
    generator = torch.Generator().manual_seed(seed)
    linears = [layer for layer in body if isinstance(layer, (nn.Linear, EnsembleLinear))]
    with torch.no_grad():
        for member in range(k):
            for layer in linears:
                weight, bias = (layer.weight, layer.bias) if k == 1 else \
                    (layer.weight[member], layer.bias[member])
                _initialise(weight, bias, config.init, generator)
    return body if k == 1 else EnsembleMLP(body)


def _initialise(weight: torch.Tensor, bias: torch.Tensor, init: str,
                generator: torch.Generator) -> None:
    """One layer's [out, in] weight and bias, in place: torch's Linear default (uniform in
    ±1/sqrt(in) for both) or Xavier-uniform weights and zero biases."""
    fan_out, fan_in = weight.shape
    if init == "xavier":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        weight.uniform_(-bound, bound, generator=generator)
        bias.zero_()
        return
    bound = 1.0 / max(fan_in, 1) ** 0.5
    weight.uniform_(-bound, bound, generator=generator)
    bias.uniform_(-bound, bound, generator=generator)


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
