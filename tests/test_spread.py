"""Issue 13: the spread of a recipe: several seeds on one split, k-fold cross-validation,
and the baselines (majority class, logistic regression) on the same split."""
from __future__ import annotations

import numpy as np
import pandas as pd
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
    parts = folds(frame, students_prepared.schema, 5, seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(frame)))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_folds_of_a_binned_label_hold_each_bin_evenly():
    from mlcore.schema import binned, infer_schema
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400).astype(str),
                          "price": np.round(rng.lognormal(3, 1, 400), 2).astype(str)})
    schema = infer_schema(frame, "price", bins=4)
    bins = binned(frame["price"], schema.column("price").bins).astype(str).to_numpy()
    for part in folds(frame, schema, 5, seed=1):  # 100 rows a bin: 20 of each in each fold
        counts = pd.Series(bins[part]).value_counts()
        assert len(counts) == 4 and counts.max() - counts.min() <= 1, counts


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


def _stored(accuracy=0.8, majority=0.4, logistic=0.75, fit_rows=200, training_rows=200,
            validation=True):
    part = {"n": 40, "accuracy": accuracy, "log_loss": 0.5, "macro": {"f1": 0.79}}
    metrics = {"train": dict(part, n=160), "test": part,
               "baselines": {"majority": {"accuracy": majority, "macro_f1": 0.19,
                                          "log_loss": 1.05, "fit_rows": 200,
                                          "training_rows": 200},
                             "logistic": {"accuracy": logistic, "macro_f1": 0.74,
                                          "log_loss": 0.6, "fit_rows": fit_rows,
                                          "training_rows": training_rows}}}
    if validation:
        metrics["validation"] = dict(part, n=40)
    return metrics


def test_comparison_rows_are_the_stored_values_with_points_from_the_model():
    from mlcore.baselines import compare_with_baselines
    comparison = compare_with_baselines(_stored())
    assert [r["model"] for r in comparison.rows] == ["this model", "majority class",
                                                    "logistic regression"]
    model, majority, logistic = comparison.rows
    assert (model["accuracy"], model["macro_f1"], model["log_loss"], model["points"]) == \
        (80.0, 0.79, 0.5, None)  # accuracy in percent, as the table shows it
    assert (majority["accuracy"], majority["macro_f1"], majority["log_loss"]) == \
        (40.0, 0.19, 1.05)
    assert majority["points"] == pytest.approx(-40.0)
    assert logistic["points"] == pytest.approx(-5.0)
    assert "same 40 test rows" in comparison.note and "validation rows included" in \
        comparison.note and "sampled" not in comparison.note
    assert comparison.warning is None  # the model beats both: nothing more to say


def test_comparison_says_when_logistic_regression_was_fitted_on_a_sample():
    from mlcore.baselines import compare_with_baselines
    note = compare_with_baselines(_stored(fit_rows=20_000, training_rows=43_200,
                                          validation=False)).note
    assert "logistic regression on 20,000 of them sampled" in note
    assert "validation" not in note


def test_comparison_warns_when_a_baseline_does_as_well():
    from mlcore.baselines import compare_with_baselines
    tied = compare_with_baselines(_stored(accuracy=0.75)).warning
    assert tied.startswith("On these test rows this model does no better than logistic "
                           "regression (75.0% against 75.0%)")
    worse = compare_with_baselines(_stored(accuracy=0.4, logistic=0.7)).warning
    assert "no better than majority class" in worse and "class frequencies" in worse
    behind = compare_with_baselines(_stored(accuracy=0.7, logistic=0.725)).warning
    assert "2.5 points worse than logistic regression" in behind


def test_no_comparison_without_stored_baselines():
    from mlcore.baselines import compare_with_baselines
    metrics = _stored()
    del metrics["baselines"]
    assert compare_with_baselines(metrics) is None
    assert compare_with_baselines({}) is None


def test_members_line():
    from mlcore.metrics import members_line, one_row_points
    assert one_row_points(40) == "one of 40 rows is 2.5 points"
    assert one_row_points(3) == "one of 3 rows is 33 points"
    assert one_row_points(10_000) == "one of 10,000 rows is 0.01 points"
    members = {"count": 16, "accuracy": [0.8] * 16, "min": 0.8, "median": 0.85,
               "max": 0.875, "ensemble": 0.9}
    assert members_line(members) == ("16 members: min 80.0%, median 85.0%, max 87.5%; the "
                                     "ensemble (mean of their probabilities) 90.0%")


def test_with_baselines_says_how_many_rows_it_could_fit_on(students_prepared):
    from mlcore.baselines import with_baselines
    run = with_baselines(fit_seeds(students_prepared, MODEL, TRAIN, seeds=[1],
                                   keep_runs=True).runs[0], students_prepared, max_rows=50)
    stored = run.bundle.metrics["baselines"]["logistic"]
    rows = sum(len(students_prepared.arrays[p][1]) for p in ("train", "validation")
               if p in students_prepared.arrays)
    assert (stored["fit_rows"], stored["training_rows"]) == (50, rows)


def test_a_wide_table_fits_logistic_regression_on_fewer_rows(students_prepared):
    from mlcore.baselines import MAX_FIT_CELLS, fit_rows
    assert fit_rows(students_prepared) == 200  # all of them: small and narrow
    wide = MAX_FIT_CELLS // 1000
    assert fit_rows(students_prepared, n_features=1000, available=10**6) == wide
    assert fit_rows(students_prepared, n_features=10**9, available=10**6) == 1000  # a floor
