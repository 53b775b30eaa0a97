"""K MLPs trained at once as one batched network (TabM's "packed" ensemble: every member
has its own weights, all members see the same batches), predicting the mean of the
members' probabilities.

Layers hold their members' weights stacked ([K, out, in]) so a layer is one batched matrix
product for all members. Each member is trained on its own loss (the ensemble's loss is
their sum, so a member's gradient is exactly the one it would get alone); the prediction is
the mean of the member probabilities, returned as logits whose softmax (or sigmoid, for a
one-logit head) *is* that mean, so every consumer of a model's logits works unchanged.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class EnsembleLinear(nn.Module):
    """K independent Linear layers: weight [K, out, in], bias [K, out]; input [K, rows, in]
    (or [rows, in], shared by every member), output [K, rows, out]."""

    def __init__(self, members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(members, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(0).expand(self.members, -1, -1)
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class EnsembleMLP(nn.Module):
    """An MLP of EnsembleLinear layers (`body`); forward gives the combined logits of the
    members' mean probability, member_logits each member's own [K, rows, outputs]."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body
        self.members = body[0].members

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return combine_logits(self.body(x))


def combine_logits(member_logits: torch.Tensor, members: int = 0,
                   classes: int = -1) -> torch.Tensor:
    """Logits of the members' mean probability (members along dim `members`, logits along
    `classes`): log of the mean softmax, or for one logit the log-odds of the mean sigmoid;
    the members' dimension is reduced away."""
    if member_logits.shape[classes] > 1:
        log_p = torch.log_softmax(member_logits, classes)
        return torch.logsumexp(log_p, members) - math.log(member_logits.shape[members])
    positive = torch.logsumexp(nn.functional.logsigmoid(member_logits), members)
    negative = torch.logsumexp(nn.functional.logsigmoid(-member_logits), members)
    return positive - negative


def member_probabilities(model: nn.Module, X: torch.Tensor | np.ndarray) -> np.ndarray:
    """Each member's class probabilities [K, rows, classes] (K = 1 for a plain MLP), in
    eval mode and one batched pass."""
    from .model import to_probabilities  # model imports this module
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not torch.is_tensor(X) else X)
    X = X.to(next(model.parameters()).device)
    model.eval()
    with torch.inference_mode():
        logits = model.member_logits(X) if isinstance(model, EnsembleMLP) else model(X)[None]
        return torch.stack([to_probabilities(z) for z in logits]).double().cpu().numpy()


def members_of(model: nn.Module) -> int:
    """How many members a model predicts with (1 for a plain MLP)."""
    return model.members if isinstance(model, EnsembleMLP) else 1
