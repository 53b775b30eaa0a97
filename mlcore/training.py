"""The training loop: tensors on the device, batches by slicing a seeded permutation.

Progress leaves through `on_epoch` (and, inside long epochs, `on_batch`); a
`threading.Event` stops it cleanly; checkpoints every N epochs (and after the last) hold
everything needed for a resumed run to be bit-identical to an unbroken one.

Two engines run the same shuffles. The networks build_model makes, on the CPU with
make_optimizer's fused optimizers, train with the hand-written forward and backward pass of
mlcore.fast_engine (no autograd graph, ~15 kernels per batch, one fused optimizer kernel
over all parameters, the epoch's loss and accuracy from one logits buffer); anything else
(another device, a model of other layers) trains through autograd and optimizer.step().
Their gradients agree to float rounding, not bit for bit. Timings: docs/benchmarks.md,
"Training speed".
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .checkpoint import check_fingerprint, load_checkpoint, save_checkpoint
from .device import describe_device, resolve_device
from .decision import decide
from .errors import ResumeError
from .ensemble import EnsembleMLP, combine_logits
from .fast_engine import Engine
from .model import loss_function, set_dropout_generator, to_probabilities

ENGINE = "auto"  # "auto": fast_engine where it applies; "autograd": autograd always

OPTIMIZERS = ("sgd", "adam", "adamw")


@dataclass
class TrainConfig:
    """How to train. `epochs` is the total, also when resuming; `patience` > 0 turns on
    early stopping on the validation loss; `threads` sets torch's intra-op threads."""

    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 16
    epochs: int = 100
    weight_decay: float = 0.0
    seed: int = 1
    patience: int = 0
    checkpoint_every: int = 0
    device: str = "auto"
    threads: int = 1

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer '{self.optimizer}' "
                             f"(choose {', '.join(OPTIMIZERS)})")
        if self.lr <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("lr must be > 0, batch size and epochs >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class EpochStats:
    """Metrics after one epoch; eval_* refer to the validation set, or the test set."""

    epoch: int
    train_loss: float
    train_accuracy: float
    eval_loss: float | None
    eval_accuracy: float | None
    elapsed_s: float


@dataclass
class History:
    """Every epoch's stats, plus how the run ended and where it ran."""

    epochs: list[EpochStats] = field(default_factory=list)
    eval_name: str | None = None
    device: str = ""
    stopped: str = ""           # "" (ran all epochs), "early" or "user"
    best_epoch: int | None = None
    train_seconds: float = 0.0  # the training loop alone (a refit's included)
    refit_epochs: int = 0       # epochs of the final fit on training + validation rows

    @property
    def last(self) -> EpochStats | None:
        return self.epochs[-1] if self.epochs else None

    def to_dict(self) -> dict:
        return {**asdict(self), "epochs": [asdict(e) for e in self.epochs]}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(**{**data, "epochs": [EpochStats(**e) for e in data["epochs"]]})


@dataclass
class TrainData:
    """Encoded training rows and an optional evaluation set named 'validation' or 'test'."""

    X: torch.Tensor
    y: torch.Tensor
    X_eval: torch.Tensor | None = None
    y_eval: torch.Tensor | None = None
    eval_name: str | None = None


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer, fused (one kernel for all parameters) where torch has it: on tiny
    networks per-kernel overhead is most of a step (see docs/benchmarks.md)."""
    params = model.parameters()
    device = next(model.parameters()).device.type
    fused = {"fused": True} if device in ("cpu", "cuda") else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, **fused)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **fused)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, **fused)


def _predicted(logits: torch.Tensor) -> torch.Tensor:
    """Class indices from logits by the one decision rule, at the default threshold."""
    return decide(to_probabilities(logits))


def _measure(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean loss and accuracy in one batched forward pass, in eval mode."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        logits = model(X)
        loss = loss_function(logits, y).item()
        accuracy = (_predicted(logits) == y).float().mean().item()
    model.train(was_training)
    return loss, accuracy


def train(model: nn.Module, data: TrainData, config: TrainConfig,
          on_epoch: Callable[[EpochStats], None] | None = None,
          stop: threading.Event | None = None,
          checkpoint_dir: Path | str | None = None,
          resume: Path | str | None = None, fingerprint: dict | None = None,
          on_batch: Callable[[int, int, int], None] | None = None,
          progress_every_s: float = 0.5) -> History:
    """Train `model` in place and return its History (best weights restored after an
    early stop; what was learned kept after a user stop). `fingerprint` (see
    checkpoint.fingerprint) goes into every checkpoint and must match the one in `resume`.
    `on_batch(epoch, rows_done, rows_total)` reports progress inside an epoch, at most once
    per `progress_every_s` seconds (checked between batches, or groups of batches of at
    most ~16k rows)."""
    if config.patience and data.eval_name != "validation":
        raise ValueError("early stopping needs a validation set (set a validation fraction)")
    if resume is not None and fingerprint is None:
        raise ValueError("resuming needs the run's fingerprint (checkpoint.fingerprint)")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    model.to(device)
    X, y = data.X.to(device), data.y.to(device)
    X_eval = data.X_eval.to(device) if data.X_eval is not None else None
    y_eval = data.y_eval.to(device) if data.y_eval is not None else None
    optimizer = make_optimizer(model, config)
    order_rng = torch.Generator().manual_seed(config.seed)
    dropout_rng = torch.Generator(device=device).manual_seed(config.seed + 1)
    set_dropout_generator(model, dropout_rng)
    history = History(eval_name=data.eval_name if X_eval is not None else None,
                      device=describe_device(device))
    best = {"loss": float("inf"), "epoch": None, "bad": 0, "state": None}
    start = 0
    if resume is not None:
        start = _restore(load_checkpoint(resume), Path(resume).name, fingerprint, model,
                         optimizer, order_rng, dropout_rng, history, best, config)
    engine = (Engine.build(model, optimizer, X, y, config.batch_size, dropout_rng)
              if ENGINE == "auto" else None) or \
        _Autograd(model, optimizer, X, y, config.batch_size)
    n = len(X)
    began = reported = time.perf_counter()
    model.train()
    try:
        for epoch in range(start + 1, config.epochs + 1):
            engine.shuffle(torch.randperm(n, generator=order_rng).to(device))
            for first in range(0, engine.batches, engine.group):
                engine.run(first, min(first + engine.group, engine.batches))
                if stop is not None and stop.is_set():
                    history.stopped = "user"
                    break
                if on_batch is not None and time.perf_counter() - reported >= progress_every_s:
                    on_batch(epoch, min((first + engine.group) * config.batch_size, n), n)
                    reported = time.perf_counter()
            if history.stopped:
                break
            stats = _epoch_done(epoch, engine, model, X_eval, y_eval, began, history, best,
                                config)
            if checkpoint_dir and config.checkpoint_every and (
                    epoch % config.checkpoint_every == 0 or epoch == config.epochs):
                save_checkpoint(Path(checkpoint_dir), {
                    "epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": {"order": order_rng.get_state(), "dropout": dropout_rng.get_state()},
                    "history": [asdict(e) for e in history.epochs], "early": best,
                    "config": config.to_dict(), "fingerprint": fingerprint})
            if on_epoch is not None:
                on_epoch(stats)
            if config.patience and best["bad"] >= config.patience:
                history.stopped = "early"
                break
    finally:
        engine.release()
    history.train_seconds = time.perf_counter() - began
    if config.patience and best["state"] is not None:
        model.load_state_dict(best["state"])
        history.best_epoch = best["epoch"]
    set_dropout_generator(model, None)  # the run's generator stays with the run
    model.eval()
    return history


def _epoch_done(epoch: int, engine, model: nn.Module, X_eval: torch.Tensor | None,
                y_eval: torch.Tensor | None, began: float, history: History, best: dict,
                config: TrainConfig) -> EpochStats:
    """The epoch's stats (appended to the history) and the early-stopping bookkeeping."""
    train_loss, train_accuracy = engine.finish_epoch()
    eval_loss = eval_accuracy = None
    if X_eval is not None:
        eval_loss, eval_accuracy = _measure(model, X_eval, y_eval)
    stats = EpochStats(epoch, train_loss, train_accuracy, eval_loss, eval_accuracy,
                       time.perf_counter() - began)
    history.epochs.append(stats)
    if config.patience:
        if eval_loss < best["loss"]:
            best.update(loss=eval_loss, epoch=epoch, bad=0,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})
        else:
            best["bad"] += 1
    return stats


class _Autograd:
    """The autograd engine, for what the hand-written one does not handle: one shuffle
    per epoch and contiguous slices, forward, backward, optimizer.step() per batch, the
    epoch's loss and accuracy reduced once per epoch (see docs/benchmarks.md)."""

    group = 1  # batches per run() call

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor,
                 y: torch.Tensor, size: int) -> None:
        self.model, self.optimizer, self.X, self.y, self.size = model, optimizer, X, y, size
        self.params = list(model.parameters())
        self.batches = -(-len(X) // size)

    def shuffle(self, order: torch.Tensor) -> None:
        self.X_epoch, self.y_epoch = self.X[order], self.y[order]
        self.losses: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []

    def run(self, first: int, last: int) -> None:
        for i in range(first * self.size, min(last * self.size, len(self.X)), self.size):
            xb, yb = self.X_epoch[i:i + self.size], self.y_epoch[i:i + self.size]
            loss, logits, shown = _batch_loss(self.model, xb, yb)
            for p in self.params:
                p.grad = None
            loss.backward()
            self.optimizer.step()
            self.losses.append(shown.detach() * len(xb))
            self.outputs.append(logits.detach())

    def finish_epoch(self) -> tuple[float, float]:
        n = len(self.X)
        loss = torch.stack(self.losses).sum().item() / n
        correct = (_predicted(torch.cat(self.outputs)) == self.y_epoch).sum().item()
        return loss, correct / n

    def release(self) -> None:
        pass


def _batch_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss to minimise, and the logits and loss for the epoch's stats: an ensemble
    minimises the sum of its members' own losses (each member learns as if alone) and
    reports those of its mean member probability, as the hand-written engine does."""
    if not isinstance(model, EnsembleMLP):
        logits = model(xb)
        loss = loss_function(logits, yb)
        return loss, logits, loss
    members = model.member_logits(xb)
    combined = combine_logits(members)
    return sum(loss_function(z, yb) for z in members), combined, \
        loss_function(combined.detach(), yb)


def _restore(state: dict, name: str, fingerprint: dict, model: nn.Module,
             optimizer: torch.optim.Optimizer, order_rng: torch.Generator,
             dropout_rng: torch.Generator, history: History, best: dict,
             config: TrainConfig) -> int:
    """Check that the checkpoint was trained for this run, then load it into the live
    objects; return the epoch it was written after."""
    check_fingerprint(state.get("fingerprint"), fingerprint, name)
    if state["epoch"] >= config.epochs:
        raise ResumeError(f"{name} is already at epoch {state['epoch']}; "
                          f"ask for more than {state['epoch']} epochs")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    order_rng.set_state(state["rng"]["order"])
    dropout_rng.set_state(state["rng"]["dropout"])
    history.epochs = [EpochStats(**e) for e in state["history"]]
    best.update(state["early"])
    return int(state["epoch"])
