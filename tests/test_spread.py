"""Issue 13: the spread of a recipe: several seeds on one split, k-fold cross-validation,
and the baselines (majority class, logistic regression) on the same split."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlcore.baselines import baseline_reports
from mlcore.model import ModelConfig
from mlcore.spread import cross_validate, fit_seeds, folds
from mlcore.training import TrainConfig

MODEL, TRAIN = ModelConfig(hidden=(8,), ensemble=2), TrainConfig(epochs=5)


def test_fit_seeds_report(students_prepared):
    seen = []
    spread = fit_seeds(students_prepared, MODEL, TRAIN, seeds=3, on_seed=seen.append)
    assert [r.seed for r in spread.records] == [1, 2, 3] == [r.seed for r in seen]
    values = spread.accuracies("test")
    assert spread.mean() == pytest.approx(np.mean(values))
    assert spread.sd() == pytest.approx(np.std(values, ddof=1))
    assert "over 3 seeds" in spread.summary() and "±" in spread.summary()
    assert spread.records[0].members["count"] == 2
    data = spread.to_dict()
    assert data["kind"] == "seeds" and data["test"]["accuracy"] == values
    again = fit_seeds(students_prepared, MODEL, TRAIN, seeds=[2])
    assert again.accuracies() == [values[1]]  # a seed gives the same run alone


def test_folds_cover_every_row_once(students_prepared):
    frame = students_prepared.parts["train"]
    parts = folds(frame, students_prepared.schema.label, 5, seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(frame)))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_cross_validate(students_prepared):
    frame = students_prepared.parts["train"]
    spread = cross_validate(frame, students_prepared.schema, MODEL, TRAIN, k=4,
                            validation_fraction=0.2)
    assert [r.fold for r in spread.records] == [0, 1, 2, 3] and spread.kind == "cv"
    assert all(set(r.accuracy) == {"train", "validation", "test"} for r in spread.records)
    assert "over 4 folds" in spread.summary()


def test_baselines_on_the_same_split(students_prepared):
    reports = baseline_reports(students_prepared)
    assert set(reports) == {"majority", "logistic"}
    _, y_train = students_prepared.arrays["train"]
    X_test, y_test = students_prepared.arrays["test"]
    majority = np.bincount(y_train).argmax()
    assert reports["majority"].accuracy == pytest.approx(np.mean(y_test == majority))
    X, y = students_prepared.arrays["train"]
    reference = LogisticRegression(max_iter=5000).fit(X, y).predict_proba(X_test)
    np.testing.assert_allclose(reports["logistic"].probabilities, reference, atol=2e-3)


def test_with_baselines_stores_both_beside_the_model_on_a_bounded_sample(students_prepared):
    from mlcore.baselines import with_baselines
    from mlcore.model import ModelConfig
    from mlcore.training import TrainConfig
    from mlcore.workflow import fit
    run = with_baselines(fit(students_prepared, ModelConfig(hidden=(4,)), TrainConfig(epochs=3)),
                         students_prepared, max_rows=50)
    stored = run.bundle.metrics["baselines"]
    assert set(stored) == {"majority", "logistic"}
    assert stored["logistic"]["fit_rows"] == 50
    full = baseline_reports(students_prepared)
    assert stored["majority"]["accuracy"] == full["majority"].accuracy  # frequencies of 50 rows
    assert 0.0 <= stored["logistic"]["accuracy"] <= 1.0 and stored["logistic"]["log_loss"] > 0
