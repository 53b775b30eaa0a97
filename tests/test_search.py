"""Issue 13: the Optuna search: seeded (same trials, same best twice), pruning on
validation, every trial kept, the best trial's run is the model; needs a validation part."""
from __future__ import annotations

import pytest

from mlcore.errors import SchemaError
from mlcore.model import ModelConfig
from mlcore.search import search
from mlcore.training import TrainConfig
from mlcore.workflow import prepare


@pytest.fixture(scope="module")
def tiny(students_prepared):
    return prepare(students_prepared.parts["train"], students_prepared.schema,
                   students_prepared.parts["test"], validation_fraction=0.25)


def _search(prepared, seen=None):
    return search(prepared, trials=3, seed=7, model_config=ModelConfig(ensemble=2),
                  train_config=TrainConfig(epochs=8, patience=4),
                  on_trial=seen.append if seen is not None else None)


def test_three_trials_seeded_same_best_twice(tiny):
    seen = []
    first = _search(tiny, seen)
    assert [t.number for t in first.trials] == [0, 1, 2] == [t.number for t in seen]
    assert all(t.state == "complete" and t.validation_accuracy is not None
               for t in first.trials)
    assert first.best.validation_accuracy == max(t.validation_accuracy for t in first.trials)
    assert first.run.reports["validation"].accuracy == first.best.validation_accuracy
    assert first.run.bundle.model_config.to_dict() == first.best.model_config
    second = _search(tiny)
    assert [t.params for t in second.trials] == [t.params for t in first.trials]
    assert second.best.number == first.best.number
    assert second.best.validation_accuracy == first.best.validation_accuracy
    assert set(first.to_dict()) == {"trials", "best"}


def test_search_needs_validation(students_prepared):
    with pytest.raises(SchemaError, match="validation"):
        search(students_prepared, trials=1)


def test_the_search_task_streams_trials_and_returns_a_model_with_every_trial(tiny):
    from threading import Event

    from mlcore.tasks import run_task
    events = []
    kind, run = run_task({"task": "search", "args": {
        "prepared": tiny, "trials": 2, "seed": 7, "model_config": ModelConfig(ensemble=2),
        "train_config": TrainConfig(epochs=4, patience=2)}}, events.append, Event())
    assert kind == "done", run
    trials = [value for name, value in events if name == "trial"]
    assert [t.number for t in trials] == [0, 1]
    assert any(name == "epoch" for name, _ in events)
    stored = run.bundle.metrics["search"]
    assert [t["number"] for t in stored["trials"]] == [0, 1]
    assert stored["best"]["number"] in (0, 1) and "baselines" in run.bundle.metrics


def test_kept_trials_and_the_refit_of_the_best(tiny):
    found = search(tiny, trials=3, seed=7, model_config=ModelConfig(ensemble=2),
                   train_config=TrainConfig(epochs=8, patience=4), refit=True)
    kept = {t.number for t in found.trials if t.kept}
    assert kept == set(found.bundles) == {t.number for t in found.trials
                                          if t.state == "complete"}
    assert [b.metrics["trial"] for b in found.others()] == sorted(kept - {found.best.number})
    history = found.run.history  # the best trial retrained on training + validation rows
    assert history.refit_epochs == history.best_epoch >= 1
    assert found.run.reports["validation"].accuracy == found.best.validation_accuracy


def test_a_search_keeps_no_more_weights_than_its_budget(tiny, monkeypatch):
    import mlcore.search as search_module
    monkeypatch.setattr(search_module, "MAX_KEPT_PARAMETERS", 1)  # no trial fits
    found = _search(tiny)
    assert not found.bundles and not any(t.kept for t in found.trials)
    assert found.run is not None  # the best trial is still the model


def test_a_stopped_search_keeps_the_trial_it_cut_short_as_stopped(tiny):
    import threading
    stop = threading.Event()

    def press_stop(number, stats) -> None:
        if number == 1 and stats.epoch == 2:
            stop.set()

    found = search(tiny, trials=3, seed=7, model_config=ModelConfig(ensemble=2),
                   train_config=TrainConfig(epochs=8, patience=4), on_epoch=press_stop,
                   stop=stop, refit=True)
    assert [t.state for t in found.trials][:1] == ["complete"] and len(found.trials) == 2
    assert found.trials[1].state == "stopped" and found.trials[1].epochs_run == 2
    assert found.run.history.refit_epochs == 0  # no refit cut short by the stop


def test_a_stored_search_is_read_back_or_refused_in_one_sentence(tiny):
    from mlcore.search import stored_trials
    found = _search(tiny)
    records, best = stored_trials(found.to_dict())
    assert records == found.trials and best == found.best
    old = found.to_dict()
    del old["trials"][0]["kept"]  # a record from before `kept`, and an extra field
    old["trials"][0]["later"] = 1
    assert stored_trials(old)[0][0].kept is False
    for bad in ({"trials": "x"}, {"trials": [{"number": 1}]}, None,
                {"trials": [], "best": {**old["best"], "params": "x"}}):
        with pytest.raises(ValueError):
            stored_trials(bad)
