"""mlcore.explain (permutation importance, one prediction's effects), mlcore.coverage (the
mostly-missing rule) and their place in the model card."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcore.coverage import MOSTLY, coverage_problems, sentence, unseen_counts
from mlcore.explain import held_out_importance, prediction_effects, with_importance
from mlcore.model import ModelConfig
from mlcore.model_card import model_card
from mlcore.predict import Predictor
from mlcore.schema import infer_schema
from mlcore.training import TrainConfig
from mlcore.workflow import fit, prepare


@pytest.fixture(scope="module")
def signal():
    """'x' decides the label, 'noise' is noise, 'colour' is a weak category."""
    rng = np.random.default_rng(0)
    n = 1200
    x, noise = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({"x": x.round(4).astype(str), "noise": noise.round(4).astype(str),
                          "colour": rng.choice(["red", "blue"], n),
                          "label": np.where(x > 0, "up", "down")})
    prepared = prepare(frame, infer_schema(frame, "label"))
    run = with_importance(fit(prepared, ModelConfig(hidden=(8,)), TrainConfig(epochs=30)),
                          prepared)
    return frame, prepared, run


def test_importance_finds_the_column_that_decides(signal):
    _, prepared, run = signal
    found = run.bundle.metrics["importance"]
    assert found[0]["column"] == "x" and found[0]["mean"] > 0.3
    others = {i["column"]: i for i in found[1:]}
    assert abs(others["noise"]["mean"]) < 0.05 and others["noise"]["sd"] >= 0
    again = held_out_importance(run.bundle, prepared.parts["test"])
    assert [i.column for i in again][0] == "x"  # the same from raw rows


def test_effects_say_which_column_moved_the_prediction(signal):
    _, _, run = signal
    label, effects = prediction_effects(Predictor(run.bundle),
                                        {"x": "2.5", "noise": "0.1", "colour": "red"})
    assert label == "up"
    assert effects[0].column == "x" and effects[0].change > 0.2
    assert {e.column for e in effects} == {"x", "noise", "colour"}


def test_mostly_missing_rows_are_warned_by_one_rule(signal):
    frame, _, run = signal
    encoder = run.bundle.encoder
    rows = pd.DataFrame({"x": [None, "1.0", None], "noise": [None, "0.2", "0.3"],
                         "colour": [None, "green", "red"]}, index=[7, 8, 9])
    assert unseen_counts(encoder, rows).tolist() == [3, 1, 1]
    problems = coverage_problems(encoder, rows)
    assert [(p.row, p.severity) for p in problems] == [(7, "warning")]
    assert str(problems[0]).startswith("row 7: 3 of 3 feature columns are missing or unseen")
    assert sentence(1, 3) is None and MOSTLY == 0.5
    single = Predictor(run.bundle).predict({"x": None, "noise": None, "colour": "red"},
                                           unknown="zeros")
    assert any("2 of 3 feature columns" in p.message for p in single.problems)


def test_the_model_card_lists_the_importance(signal):
    _, _, run = signal
    card = model_card(run.bundle, "signal.csv")
    assert "Feature importance (accuracy points lost on the test rows" in card
    assert card.index("| x |") < card.index("| noise |")
