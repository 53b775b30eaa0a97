"""What a model should beat, on the same split and the same encoded rows: the majority
class, and multinomial logistic regression (in torch, so the runtime needs no
scikit-learn: L-BFGS on the mean cross-entropy plus scikit-learn's default L2, C = 1)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .decision import DEFAULT_THRESHOLD
from .metrics import Report
from .workflow import Prepared

TITLES = {"majority": "majority class", "logistic": "logistic regression"}
MAX_FIT_ROWS = 20_000  # logistic regression beside the model fits on at most this many rows
MAX_FIT_CELLS = 20_000_000  # ... and this many float64 cells (160 MB) on wide tables
MIN_FIT_ROWS = 1_000


def _training_rows(prepared: Prepared, max_rows: int | None = None,
                   seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every row a model may learn from (the training and validation parts), or a seeded
    sample of `max_rows` of them, so the baseline's cost is bounded on any table."""
    parts = [prepared.arrays[name] for name in ("train", "validation") if name in prepared.arrays]
    X, y = np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])
    if max_rows is not None and len(X) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))
        X, y = X[keep], y[keep]
    return X, y


def majority_probabilities(y_train: np.ndarray, n_classes: int, rows: int) -> np.ndarray:
    """Every row gets the training class frequencies, so it predicts the commonest class."""
    counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
    return np.tile(counts / counts.sum(), (rows, 1))


def fit_logistic(X: np.ndarray, y: np.ndarray, n_classes: int, c: float = 1.0,
                 max_iter: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights [features, classes] and biases minimising mean cross-entropy + |W|²/(2·C·n)
    (scikit-learn's LogisticRegression objective divided by n), by L-BFGS in float64."""
    X64, targets = torch.from_numpy(np.asarray(X, np.float64)), torch.from_numpy(y)
    weight = torch.zeros(X64.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-9)
    penalty = 1.0 / (2.0 * c * len(X64))

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(X64 @ weight + bias, targets) + \
            penalty * (weight ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def baseline_reports(prepared: Prepared, part: str = "test",
                     threshold: float = DEFAULT_THRESHOLD,
                     max_rows: int | None = None) -> dict[str, Report]:
    """Reports of the majority class and of logistic regression on `part`, both fitted on
    the rows the model learned from (training and validation parts; at most `max_rows`)."""
    names = prepared.encoder.class_names
    X_train, y_train = _training_rows(prepared, max_rows)
    X, y = prepared.arrays[part]
    weight, bias = fit_logistic(X_train, y_train, len(names))
    with torch.no_grad():
        logistic = torch.softmax(torch.from_numpy(np.asarray(X, np.float64)) @ weight + bias,
                                 1).numpy()
    return {"majority": Report(names, majority_probabilities(y_train, len(names), len(X)), y,
                               threshold),
            "logistic": Report(names, logistic, y, threshold)}


def _available(prepared: Prepared) -> int:
    """How many rows a model may learn from: the training and validation parts."""
    return sum(len(prepared.arrays[name][1]) for name in ("train", "validation")
               if name in prepared.arrays)


def fit_rows(prepared: Prepared, max_rows: int = MAX_FIT_ROWS, n_features: int | None = None,
             available: int | None = None) -> int:
    """How many training rows the baselines fit on: all of them, at most `max_rows`, and on
    wide tables at most MAX_FIT_CELLS float64 cells (never under MIN_FIT_ROWS), so their
    cost after training is bounded whatever the table."""
    width = n_features if n_features is not None else prepared.encoder.n_features
    if available is None:
        available = _available(prepared)
    return min(available, max_rows, max(MIN_FIT_ROWS, MAX_FIT_CELLS // max(1, width)))


def with_baselines(run, prepared: Prepared, max_rows: int = MAX_FIT_ROWS):
    """The run with its bundle's metrics holding the baselines on the test part ("baselines":
    name -> accuracy, macro F1, log loss, rows fitted on), as Evaluate and the CLI show them."""
    available = _available(prepared)
    fitted = fit_rows(prepared, max_rows, available=available)
    reports = baseline_reports(prepared, "test", run.bundle.threshold, fitted)
    run.bundle.metrics["baselines"] = {
        name: {"accuracy": report.accuracy, "macro_f1": report.averages()["macro"]["f1"],
               "log_loss": report.log_loss, "fit_rows": fitted,
               "training_rows": available}
        for name, report in reports.items()}
    return run


@dataclass
class Comparison:
    """Evaluate's "Compared with baselines": one row per model (this model first), each
    with its test accuracy in percent, `points` (its accuracy minus the model's, in
    percentage points; None for the model), macro F1 and log loss; a note on the rows they
    share, and a sentence when a baseline does at least as well as the model."""

    rows: list[dict]
    note: str
    warning: str | None = None


def compare_with_baselines(metrics: dict) -> Comparison | None:
    """The comparison from a bundle's stored metrics (its "test" part and "baselines", all
    measured on the same test rows when the model trained); None when either is missing
    (a bundle from before the baselines were stored)."""
    test, baselines = metrics.get("test"), metrics.get("baselines")
    if not isinstance(test, dict) or not isinstance(baselines, dict):
        return None
    model = {"model": "this model", "accuracy": 100 * test["accuracy"], "points": None,
             "macro_f1": test["macro"]["f1"], "log_loss": test["log_loss"]}
    rows = [model] + [{"model": TITLES[name], "accuracy": 100 * b["accuracy"],
                       "points": 100 * (b["accuracy"] - test["accuracy"]),
                       "macro_f1": b["macro_f1"], "log_loss": b["log_loss"]}
                      for name, b in baselines.items() if name in TITLES]
    logistic = baselines.get("logistic", {})
    fitted, available = logistic.get("fit_rows"), logistic.get("training_rows")
    sampled = ""
    if fitted and available and available > fitted:
        sampled = f", logistic regression on {fitted:,} of them sampled"
    with_validation = " (validation rows included)" if "validation" in metrics else ""
    note = (f"Both baselines learn from the rows this model trained on{with_validation}"
            f"{sampled}, and are scored on the same {test['n']:,} test rows. The majority "
            "class always predicts the commonest training class; logistic regression is a "
            "straight-line model.")
    warning = None
    for row in sorted(rows[1:], key=lambda r: r["model"] != TITLES["majority"]):
        if row["points"] < 0:
            continue
        than = "no better than" if row["points"] == 0 else \
            f"{row['points']:.1f} points worse than"
        warning = (f"On these test rows this model does {than} {row['model']} "
                   f"({test['accuracy']:.1%} against {row['accuracy'] / 100:.1%}). "
                   + ("It has learned nothing beyond the class frequencies: try more "
                      "epochs or another learning rate on Train."
                      if row["model"] == TITLES["majority"] else
                      "A straight-line model is enough here, or the network needs other "
                      "settings; with few test rows a point or two can be luck of the split."))
        break
    return Comparison(rows, note, warning)
