"""Issue 2, item 9: the evaluation report, checked against hand counts and sklearn."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sklearn import metrics as sklearn_metrics

from mlcore.decision import decide
from mlcore.metrics import Report, evaluate, pr_curve, roc_curve


def _random(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    targets = rng.integers(0, k, n)
    logits[np.arange(n), targets] += 1.0  # better than chance, still many mistakes
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs, targets


def test_counts_summary_and_per_class():
    # 3 classes, 10 rows: rows = actual, columns = predicted
    targets = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
    probs = np.eye(3)[predicted] * 0.8 + 0.2 / 3
    report = Report(["a", "b", "c"], probs, targets)
    assert report.predicted.tolist() == predicted.tolist()
    assert (report.n, report.n_correct, report.accuracy) == (10, 7, 0.7)
    assert report.summary() == "7 of 10 correct, 70.00%"
    assert report.confusion.tolist() == [[3, 1, 0], [0, 2, 1], [1, 0, 2]]
    rows = {r["name"]: r for r in report.per_class()}
    assert (rows["a"]["support"], rows["a"]["correct"], rows["a"]["wrong"]) == (4, 3, 1)
    assert rows["a"]["accuracy"] == 0.75 and rows["a"]["precision"] == 0.75
    assert (rows["b"]["correct"], rows["b"]["wrong"], rows["b"]["accuracy"]) == (2, 1, 2 / 3)
    assert rows["c"]["predicted"] == 3 and rows["c"]["precision"] == 2 / 3


def test_163_of_200():
    targets = np.zeros(200, dtype=int)
    targets[:100] = 1
    probs = np.zeros((200, 3))
    probs[:, 0] = 1.0
    probs[:63, :] = [0, 1, 0]   # 63 ones right, 37 ones wrong, 100 zeros right
    report = Report(["x", "y", "z"], probs, targets)
    assert report.summary() == "163 of 200 correct, 81.50%"


def test_confusion_orientation_rows_are_actual():
    report = Report(["a", "b"], np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]]),
                    np.array([1, 1, 1]))
    assert report.confusion.tolist() == [[0, 0], [3, 0]]  # three actual b predicted as a
    want = sklearn_metrics.confusion_matrix([1, 1, 1], report.predicted, labels=[0, 1])
    assert report.confusion.tolist() == want.tolist()


@pytest.mark.parametrize("k, seed", [(3, 0), (5, 1), (2, 2), (4, 3)])
def test_precision_recall_f1_and_log_loss_match_sklearn(k, seed):
    probs, targets = _random(300, k, seed)
    report = Report([f"c{i}" for i in range(k)], probs, targets)
    predicted = report.predicted
    p, r, f, s = sklearn_metrics.precision_recall_fscore_support(
        targets, predicted, labels=list(range(k)), zero_division=0)
    rows = report.per_class()
    np.testing.assert_allclose([row["precision"] for row in rows], p)
    np.testing.assert_allclose([row["recall"] for row in rows], r)
    np.testing.assert_allclose([row["f1"] for row in rows], f)
    assert [row["support"] for row in rows] == s.tolist()
    averages = report.averages()
    for average in ("macro", "weighted"):
        p, r, f, _ = sklearn_metrics.precision_recall_fscore_support(
            targets, predicted, labels=list(range(k)), average=average, zero_division=0)
        assert averages[average] == pytest.approx({"precision": p, "recall": r, "f1": f})
    assert report.accuracy == pytest.approx(sklearn_metrics.accuracy_score(targets, predicted))
    assert report.log_loss == pytest.approx(
        sklearn_metrics.log_loss(targets, probs, labels=list(range(k))))
    assert report.confusion.tolist() == sklearn_metrics.confusion_matrix(
        targets, predicted, labels=list(range(k))).tolist()


def test_class_never_predicted_has_zero_precision():
    report = Report(["a", "b", "c"], np.eye(3)[[0, 0, 1, 1]], np.array([0, 2, 1, 2]))
    rows = {r["name"]: r for r in report.per_class()}
    assert rows["c"]["predicted"] == 0 and rows["c"]["precision"] == 0.0
    assert rows["c"]["f1"] == 0.0 and rows["c"]["wrong"] == 2


def test_binary_counts_at_a_threshold_standard_definitions():
    targets = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p1 = np.array([0.9, 0.6, 0.3, 0.7, 0.2, 0.1, 0.55, 0.4])
    report = Report(["neg", "pos"], np.c_[1 - p1, p1], targets)
    b = report.binary()
    # TP: actual 1 predicted 1 (0.9, 0.6); FP: actual 0 predicted 1 (0.7, 0.55)
    # FN: actual 1 predicted 0 (0.3, 0.4); TN: the rest
    assert (b["tp"], b["fp"], b["tn"], b["fn"]) == (2, 2, 2, 2)
    assert b["positive"] == "pos" and b["threshold"] == 0.5
    strict = report.at_threshold(0.65).binary()
    assert (strict["tp"], strict["fp"], strict["tn"], strict["fn"]) == (1, 1, 3, 3)
    tn, fp, fn, tp = sklearn_metrics.confusion_matrix(
        targets, (p1 >= 0.65).astype(int)).ravel()
    assert (strict["tp"], strict["fp"], strict["tn"], strict["fn"]) == (tp, fp, tn, fn)
    assert report.at_threshold(0.35).predicted.tolist() == (p1 >= 0.35).astype(int).tolist()
    assert Report(["a", "b", "c"], np.eye(3), np.arange(3)).binary() is None


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True), (2, False)])
def test_roc_auc_and_average_precision_match_sklearn(seed, ties):
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 2, 400)
    scores = np.clip(actual * 0.3 + rng.normal(0.35, 0.25, 400), 0, 1)
    if ties:
        scores = np.round(scores, 1)
    roc, pr = roc_curve(actual, scores), pr_curve(actual, scores)
    assert roc["auc"] == pytest.approx(sklearn_metrics.roc_auc_score(actual, scores))
    assert pr["auc"] == pytest.approx(sklearn_metrics.average_precision_score(actual, scores))
    fpr, tpr, _ = sklearn_metrics.roc_curve(actual, scores, drop_intermediate=False)
    np.testing.assert_allclose(roc["fpr"], fpr)
    np.testing.assert_allclose(roc["tpr"], tpr)
    precision, recall, _ = sklearn_metrics.precision_recall_curve(actual, scores)
    np.testing.assert_allclose(pr["precision"], precision)
    np.testing.assert_allclose(pr["recall"], recall)
    report = Report(["n", "p"], np.c_[1 - scores, scores], actual)
    assert report.binary()["roc"]["auc"] == pytest.approx(roc["auc"])


def test_one_class_only_gives_nan_auc():
    assert np.isnan(roc_curve(np.ones(5, dtype=int), np.linspace(0, 1, 5))["auc"])
    assert np.isnan(pr_curve(np.zeros(5, dtype=int), np.linspace(0, 1, 5))["auc"])


def test_misclassified_indices_with_probabilities():
    probs, targets = _random(50, 3, 4)
    report = Report(["a", "b", "c"], probs, targets)
    missed = report.misclassified()
    assert [m["index"] for m in missed] == np.flatnonzero(probs.argmax(1) != targets).tolist()
    first = missed[0]
    assert first["actual"] == ["a", "b", "c"][targets[first["index"]]]
    assert first["predicted"] == ["a", "b", "c"][probs[first["index"]].argmax()]
    np.testing.assert_allclose(first["probabilities"], probs[first["index"]], atol=1e-6)


def test_decide_argmax_and_threshold():
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    assert decide(probs).tolist() == [1, 0]
    assert decide(np.array([[0.45, 0.55], [0.7, 0.3]]), 0.6).tolist() == [0, 0]


def test_evaluate_runs_one_batched_pass_in_eval_mode(students_run, students_prepared):
    model = students_run.model
    X, y = students_prepared.arrays["test"]
    model.train()
    report = evaluate(model, torch.from_numpy(X), torch.from_numpy(y), ["f", "g", "h"])
    assert not model.training
    with torch.inference_mode():
        want = torch.softmax(model(torch.from_numpy(X)), 1).double().numpy()
    np.testing.assert_allclose(report.probabilities, want)
    assert report.n == 40 and report.class_names == ["f", "g", "h"]
    as_dict = report.to_dict()
    assert as_dict["n_correct"] == report.n_correct and as_dict["binary"] is None
    assert as_dict["confusion"] == report.confusion.tolist()
    assert set(as_dict) >= {"per_class", "macro", "weighted", "log_loss", "misclassified"}


def test_same_test_rows_by_counts():
    from types import SimpleNamespace

    from mlcore.metrics import same_test_rows
    stored = {"test": {"n": 40, "n_correct": 31}}
    assert same_test_rows(stored, SimpleNamespace(n=40, n_correct=31))
    assert not same_test_rows(stored, SimpleNamespace(n=40, n_correct=30))
    assert not same_test_rows({}, SimpleNamespace(n=40, n_correct=31))
    assert not same_test_rows(stored, None)
