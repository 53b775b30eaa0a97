"""Evaluation: accuracy with counts, per-class counts, confusion matrix, P/R/F1, log-loss,
and for two classes threshold counts with ROC and PR curves. Pure numpy on probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .decision import DEFAULT_THRESHOLD, decide
from .ensemble import member_probabilities, members_of
from .model import to_probabilities

MAX_LISTED_MISSES = 1000


@dataclass
class Report:
    """An evaluation of predicted probabilities against the true classes.

    Positive class for two classes is class 1; TP = actual positive predicted positive,
    FP = actual negative predicted positive, FN = actual positive predicted negative.
    An ensemble's report also holds each member's probabilities, to show the spread."""

    class_names: list[str]
    probabilities: np.ndarray  # [rows, classes]
    targets: np.ndarray        # [rows] class indices
    threshold: float = DEFAULT_THRESHOLD
    member_probabilities: np.ndarray | None = None  # [members, rows, classes], members > 1
    predicted: np.ndarray = field(init=False)
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.probabilities = np.asarray(self.probabilities, dtype=np.float64)
        self.targets = np.asarray(self.targets, dtype=np.int64)
        self.predicted = decide(self.probabilities, self.threshold)
        k = len(self.class_names)
        self.confusion = np.zeros((k, k), dtype=np.int64)
        np.add.at(self.confusion, (self.targets, self.predicted), 1)

    @property
    def n(self) -> int:
        return len(self.targets)

    @property
    def n_correct(self) -> int:
        return int(np.trace(self.confusion))

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n if self.n else 0.0

    @property
    def log_loss(self) -> float:
        picked = self.probabilities[np.arange(self.n), self.targets]
        return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0)))) if self.n else 0.0

    def per_class(self) -> list[dict]:
        """Per class: support, correct, wrong, accuracy (= recall), precision, recall, F1."""
        rows = []
        for i, name in enumerate(self.class_names):
            support = int(self.confusion[i].sum())
            correct = int(self.confusion[i, i])
            predicted = int(self.confusion[:, i].sum())
            precision = correct / predicted if predicted else 0.0
            recall = correct / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append({"name": name, "support": support, "correct": correct,
                         "wrong": support - correct, "accuracy": recall,
                         "precision": precision, "recall": recall, "f1": f1,
                         "predicted": predicted})
        return rows

    def averages(self) -> dict[str, dict[str, float]]:
        """Macro (plain mean over classes) and weighted (by support) P/R/F1."""
        rows = self.per_class()
        support = np.array([r["support"] for r in rows], dtype=float)
        weights = support / support.sum() if support.sum() else support
        out = {}
        for name, w in (("macro", np.full(len(rows), 1 / len(rows))), ("weighted", weights)):
            out[name] = {m: float(sum(wi * r[m] for wi, r in zip(w, rows)))
                         for m in ("precision", "recall", "f1")}
        return out

    def binary(self) -> dict | None:
        """Threshold counts and ROC/PR curves with AUC, for two classes only."""
        if len(self.class_names) != 2:
            return None
        actual, guess = self.targets == 1, self.predicted == 1
        scores = self.probabilities[:, 1]
        return {"positive": self.class_names[1], "threshold": self.threshold,
                "tp": int((actual & guess).sum()), "fp": int((~actual & guess).sum()),
                "tn": int((~actual & ~guess).sum()), "fn": int((actual & ~guess).sum()),
                "roc": roc_curve(actual, scores), "pr": pr_curve(actual, scores)}

    def misclassified(self) -> list[dict]:
        """Positions (in the evaluated rows) of wrong predictions, with their probabilities."""
        wrong = np.flatnonzero(self.predicted != self.targets)[:MAX_LISTED_MISSES]
        return [{"index": int(i), "actual": self.class_names[self.targets[i]],
                 "predicted": self.class_names[self.predicted[i]],
                 "probabilities": [round(float(p), 6) for p in self.probabilities[i]]}
                for i in wrong]

    def cell_positions(self, actual: int, predicted: int) -> list[int]:
        """Positions (in the evaluated rows) behind one confusion cell: rows of class
        `actual` that were predicted as class `predicted`."""
        return np.flatnonzero((self.targets == actual) & (self.predicted == predicted)).tolist()

    def at_threshold(self, threshold: float) -> Report:
        """The same evaluation with another decision threshold (two classes)."""
        return Report(self.class_names, self.probabilities, self.targets, threshold,
                      self.member_probabilities)

    def members(self) -> dict | None:
        """Each ensemble member's own accuracy (same rows, same decision rule) and their
        min / median / max, beside the ensemble's; None for a single network."""
        if self.member_probabilities is None or len(self.member_probabilities) < 2:
            return None
        accuracy = [float(np.mean(decide(p, self.threshold) == self.targets)) if self.n
                    else 0.0 for p in self.member_probabilities]
        return {"count": len(accuracy), "accuracy": accuracy, "min": min(accuracy),
                "median": float(np.median(accuracy)), "max": max(accuracy),
                "ensemble": self.accuracy}

    def summary(self) -> str:
        return f"{self.n_correct} of {self.n} correct, {self.accuracy:.2%}"

    def to_dict(self) -> dict:
        return {"n": self.n, "n_correct": self.n_correct, "accuracy": self.accuracy,
                "log_loss": self.log_loss, "class_names": list(self.class_names),
                "per_class": self.per_class(), **self.averages(),
                "confusion": self.confusion.tolist(), "binary": self.binary(),
                "members": self.members(), "misclassified": self.misclassified()}


def members_line(members: dict) -> str:
    """An ensemble's spread in words, e.g. '16 members: min 80.0%, median 85.0%, max 87.5%;
    the ensemble (mean of their probabilities) 87.5%' (`members` as Report.members gives)."""
    return (f"{members['count']} members: min {members['min']:.1%}, median "
            f"{members['median']:.1%}, max {members['max']:.1%}; the ensemble (mean of "
            f"their probabilities) {members['ensemble']:.1%}")


def same_test_rows(metrics: dict, report: Report | None) -> bool:
    """Whether `report` is on the test rows a bundle's stored metrics were measured on, as
    far as counts tell (same rows, same correct): then its stored baselines compare with it."""
    stored = metrics.get("test") or {}
    return report is not None and (stored.get("n"), stored.get("n_correct")) == (
        report.n, report.n_correct)


def one_row_points(rows: int) -> str:
    """What one row is worth in accuracy on `rows` rows, e.g. 'one of 40 rows is 2.5 points'
    (said beside small test sets' accuracies, where a row or two moves a figure a lot)."""
    return f"one of {rows:,} rows is {100 / rows:.2g} points" if rows else ""


def stored_metrics(reports: dict[str, Report]) -> dict[str, dict]:
    """Reports per part as the bundle stores them: everything but the misclassified rows."""
    return {name: {k: v for k, v in report.to_dict().items() if k != "misclassified"}
            for name, report in reports.items()}


def _ranked(actual: np.ndarray, scores: np.ndarray):
    """Cumulative true/false positives at each distinct score, highest score first."""
    order = np.argsort(-scores, kind="mergesort")
    scores, actual = scores[order], actual[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(actual)[last]
    fps = (last + 1) - tps
    return tps, fps, scores[last]


def roc_curve(actual: np.ndarray, scores: np.ndarray) -> dict:
    """ROC points from the strictest threshold down, with trapezoid AUC (sklearn's convention)."""
    tps, fps, thresholds = _ranked(actual.astype(bool), scores)
    positives, negatives = tps[-1] if len(tps) else 0, fps[-1] if len(fps) else 0
    tpr = np.r_[0, tps] / positives if positives else np.zeros(len(tps) + 1)
    fpr = np.r_[0, fps] / negatives if negatives else np.zeros(len(fps) + 1)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
            "thresholds": np.r_[np.inf, thresholds].tolist(),
            "auc": float(np.trapezoid(tpr, fpr)) if positives and negatives else float("nan")}


def pr_curve(actual: np.ndarray, scores: np.ndarray) -> dict:
    """Precision-recall points by ascending threshold; AUC is average precision."""
    tps, fps, thresholds = _ranked(actual.astype(bool), scores)
    positives = tps[-1] if len(tps) else 0
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / positives if positives else np.zeros(len(tps))
    ap = float(np.sum(np.diff(np.r_[0, recall]) * precision)) if positives else float("nan")
    return {"precision": np.r_[precision[::-1], 1.0].tolist(),
            "recall": np.r_[recall[::-1], 0.0].tolist(),
            "thresholds": thresholds[::-1].tolist(), "auc": ap}


def predict_probabilities(model: nn.Module, X: torch.Tensor | np.ndarray) -> np.ndarray:
    """Class probabilities for encoded rows in one batched forward pass (eval mode)."""
    device = next(model.parameters()).device
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not torch.is_tensor(X) else X)
    model.eval()
    with torch.inference_mode():
        return to_probabilities(model(X.to(device))).double().cpu().numpy()


def evaluate(model: nn.Module, X: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray,
             class_names: list[str], threshold: float = DEFAULT_THRESHOLD) -> Report:
    """Evaluate `model` on encoded rows X with true classes y (an ensemble's members each
    on their own too)."""
    targets = y.cpu().numpy() if torch.is_tensor(y) else np.asarray(y)
    members = member_probabilities(model, X) if members_of(model) > 1 else None
    return Report(list(class_names), predict_probabilities(model, X), targets, threshold,
                  members)
