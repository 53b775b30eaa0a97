"""Issue 10: progress inside long epochs (train's on_batch), for both engines."""
from __future__ import annotations

import threading

import pytest
import torch

import mlcore.training as training
from mlcore.model import ModelConfig, build_model
from mlcore.training import TrainConfig, TrainData, train

ROWS = 20_000


@pytest.fixture(scope="module")
def table() -> TrainData:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(ROWS, 5, generator=g)
    return TrainData(X, (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long())


def _train(data: TrainData, **kwargs):
    model = build_model(5, 3, ModelConfig(hidden=(8,)), seed=1)
    config = TrainConfig(optimizer="adam", lr=0.01, batch_size=64, epochs=2, device="cpu")
    return train(model, data, config, **kwargs)


@pytest.mark.parametrize("engine", ["auto", "autograd"])
def test_on_batch_reports_rows_inside_each_epoch(table, monkeypatch, engine):
    monkeypatch.setattr(training, "ENGINE", engine)
    calls, epochs = [], []
    _train(table, on_batch=lambda *call: calls.append(call), progress_every_s=0.0,
           on_epoch=lambda stats: epochs.append((stats.epoch, len(calls))))
    assert {total for _, _, total in calls} == {ROWS}
    for epoch in (1, 2):
        done = [rows for e, rows, _ in calls if e == epoch]
        assert len(done) >= 2 and done == sorted(set(done)) and done[-1] == ROWS
        assert 0 < done[0] < ROWS
    # the calls of epoch 1 all come before its on_epoch, those of epoch 2 after it
    assert [e for e, _, _ in calls[:epochs[0][1]]] == [1] * epochs[0][1]
    assert all(e == 2 for e, _, _ in calls[epochs[0][1]:])


class _Clock:
    """time.perf_counter for mlcore.training: 0.25 s per look."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.25
        return self.now


@pytest.mark.parametrize("engine", ["auto", "autograd"])
def test_on_batch_at_most_once_per_interval(table, monkeypatch, engine):
    monkeypatch.setattr(training, "ENGINE", engine)
    clock = _Clock()
    monkeypatch.setattr(training, "time", clock)
    seen = []
    _train(table, on_batch=lambda *call: seen.append((clock.now, call)), progress_every_s=0.5)
    assert seen, "a 2-epoch run looks at the clock more than twice"
    times = [t for t, _ in seen]
    assert all(b - a >= 0.5 for a, b in zip(times, times[1:]))


def test_no_on_batch_no_progress_and_stop_still_works(table):
    stop = threading.Event()
    stop.set()
    history = _train(table, stop=stop)
    assert history.stopped == "user" and history.epochs == []
    assert len(_train(table).epochs) == 2
