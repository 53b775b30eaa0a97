"""The one decision rule (mlcore.decision) and the places that must follow it: Report,
Predictor, the trainer's accuracy and a bundle's saved threshold."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import members_of, zip_of
from mlcore.bundle import bundle_from_zip, bundle_to_zip
from mlcore.decision import check_threshold, decide, margin
from mlcore.errors import BundleError, SettingError
from mlcore.metrics import Report
from mlcore.predict import Predictor


def test_decide_binary_at_threshold_and_argmax_otherwise():
    two = np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    assert decide(two).tolist() == [0, 1, 1]          # P(class 1) >= 0.5, ties positive
    assert decide(two, 0.35).tolist() == [1, 1, 1]
    assert decide(two, 0.75).tolist() == [0, 0, 0]
    three = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    assert decide(three).tolist() == [1, 0] and decide(three).dtype == np.int64
    assert decide(torch.tensor(two, dtype=torch.float32)).tolist() == [0, 1, 1]


def test_margin_is_the_distance_to_a_flip():
    assert margin(np.array([[0.6, 0.4]]), 0.5).tolist() == pytest.approx([0.1])
    assert margin(np.array([[0.2, 0.5, 0.3]])).tolist() == pytest.approx([0.2])


@pytest.mark.parametrize("value, classes, message", [
    (0.3, ["a", "b", "c"], "applies to two-class models only; this one has 3 classes"),
    (0.0, ["a", "b"], "must be between 0 and 1"),
    (1.0, ["a", "b"], "must be between 0 and 1"),
    (float("nan"), ["a", "b"], "must be between 0 and 1"),
])
def test_check_threshold_refuses_in_one_line(value, classes, message):
    with pytest.raises(SettingError, match=message):
        check_threshold(value, classes)


def test_report_and_predictor_use_the_rule():
    probabilities = np.array([[0.65, 0.35], [0.2, 0.8], [0.55, 0.45]])
    report = Report(["n", "y"], probabilities, np.array([1, 1, 0]), threshold=0.4)
    assert report.predicted.tolist() == decide(probabilities, 0.4).tolist() == [0, 1, 1]


def test_saved_threshold_travels_with_the_bundle(people_bundle):
    assert people_bundle.threshold == 0.5
    moved = people_bundle.with_threshold(0.2)
    assert moved.threshold == 0.2 and people_bundle.threshold == 0.5
    again = bundle_from_zip(bundle_to_zip(moved))
    assert again.threshold == 0.2
    rows = [{"age": 40, "state": "oklahoma", "income": 40000, "politics": "moderate"}]
    result = Predictor(again).predict(rows)
    p = result.probabilities[0, 1]
    assert result.labels == ["M" if p >= 0.2 else "F"] and result.threshold == 0.2
    assert Predictor(again).predict(rows, threshold=0.99).labels == ["M" if p >= 0.99 else "F"]


def test_with_reports_remeasures_the_stored_metrics(people_run):
    moved = people_run.bundle.with_threshold(0.9, people_run.reports)
    stored = moved.metrics["test"]
    assert stored["binary"]["threshold"] == 0.9
    assert stored["n_correct"] == people_run.reports["test"].at_threshold(0.9).n_correct


def test_a_bad_threshold_in_bundle_json_is_refused(people_bundle):
    members = members_of(people_bundle)
    meta = json.loads(members["bundle.json"])
    meta["threshold"] = "high"
    doctored = zip_of({**members, "bundle.json": json.dumps(meta).encode()})
    with pytest.raises(BundleError, match="threshold 'high' is not a number"):
        bundle_from_zip(doctored, "b.zip")


def test_training_accuracy_follows_the_rule(people_run):
    """The trainer's per-epoch accuracy (a sigmoid head here) is the Report's at 0.5."""
    last = people_run.history.epochs[-1]
    assert people_run.bundle.model_config.binary_head == "sigmoid"
    assert last.eval_accuracy == pytest.approx(people_run.reports["test"].accuracy, abs=1e-6)
