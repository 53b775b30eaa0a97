"""JobManager: a job's progress, where, ETA and event log from its epochs and batch rows
(also when resumed, while the manager changes it, without epochs) and a search's trials."""
from __future__ import annotations

import pytest

from job_rig import (FINISHED, QUEUED, RUNNING, STOPPED, Clock, assert_ended_once, run_of,
                     stats, rig)  # noqa: F401 (rig: the fixture)
from mlcore.job import Job


# ---- progress ---------------------------------------------------------------------------
def test_epochs_and_batch_rows_update_progress_where_and_the_event_log(rig):
    r = rig(lease_s=1e9)
    job = r.submit(epochs=4)
    assert job.progress == 0 and job.where == "epoch 0 of 4" and job.eta is None
    r.tick()
    worker = r.worker(job)
    worker.send(("batch", (1, 50, 200)))
    r.tick(10)
    assert job.rows == (1, 50, 200)
    assert job.progress == pytest.approx(0.0625)
    assert job.where == "epoch 0 of 4 · rows 50 of 200 in epoch 1"
    assert job.eta == pytest.approx(10 * (1 - 0.0625) / 0.0625)
    worker.epochs(1)
    worker.send(("batch", (2, 100, 200)))
    r.tick(10)
    assert job.progress == pytest.approx(0.375)
    assert job.where == "epoch 1 of 4 · rows 100 of 200 in epoch 2"
    worker.epochs(2)
    r.tick(1)
    assert job.rows is None and job.where == "epoch 2 of 4" and job.progress == 0.5
    worker.send(("batch", (3, 1_500_000, 2_000_000)))
    r.tick(1)
    assert job.where == "epoch 2 of 4 · rows 1,500,000 of 2,000,000 in epoch 3"
    worker.epochs(3, 4)
    worker.finish(run_of(4))
    r.tick(1)
    assert job.progress == 1.0 and job.where == "epoch 4 of 4" and job.eta is None
    assert job.elapsed == pytest.approx(23)
    r.tick(20)
    assert job.elapsed == pytest.approx(23)  # the clock stops when the job ends
    log = r.manager.events(job.id)
    assert [(k, v.epoch if k == "epoch" else v) for k, v in log] == [
        ("state", QUEUED), ("state", RUNNING), ("epoch", 1), ("epoch", 2), ("epoch", 3),
        ("epoch", 4), ("state", FINISHED)]
    assert r.manager.events(job.id, since=5) == log[5:]
    assert r.manager.events("no such job") == []


class Flickering(Job):
    """A job as a page's thread reads it while the manager's thread changes it: every
    other read of `rows` or `epochs` finds the epoch just ended (rows gone, history not
    yet copied in)."""

    reads = 0

    @property
    def rows(self):
        self.reads += 1
        return (1, 50, 200) if self.reads % 2 else None

    @rows.setter
    def rows(self, value) -> None:
        pass

    @property
    def epochs(self):
        self.reads += 1
        return [stats(1)] if self.reads % 2 else []

    @epochs.setter
    def epochs(self, value) -> None:
        pass


def test_progress_where_and_eta_survive_the_manager_changing_the_job_between_reads():
    job = Flickering("id", "a", "fit", {}, 4, Clock(), state=RUNNING, started=990.0)
    for _ in range(8):  # every phase of the flicker
        assert 0 <= job.progress <= 1
        assert job.where.startswith("epoch ")
        assert job.eta is None or job.eta >= 0


def test_a_resumed_job_counts_progress_from_its_checkpoint(rig):
    r = rig()
    job = r.manager.submit("a", "fit", {}, total_epochs=4, first_epoch=2,
                           epochs=[stats(1), stats(2)])
    assert job.progress == 0 and job.where == "epoch 2 of 4"
    r.tick()
    r.worker(job).epochs(3)
    r.tick(1)
    assert job.progress == 0.5 and job.where == "epoch 3 of 4"


def test_a_job_without_epochs_is_done_only_when_it_ends(rig):
    r = rig()
    job = r.manager.submit("a", "overfit", {"X": None})
    r.tick()
    assert job.progress == 0.0
    result = object()  # the overfit check's result has no history
    r.worker(job).finish(result)
    r.tick(1)
    assert_ended_once(job, FINISHED)
    assert job.result is result and job.progress == 1.0


def test_a_stopped_job_without_history_keeps_its_result(rig):
    r = rig()
    job = r.manager.submit("a", "overfit", {})
    r.tick()
    r.manager.stop(job.id)
    result = object()
    r.worker(job).finish(result)
    r.tick(1)
    assert_ended_once(job, STOPPED)
    assert job.result is result


def test_a_search_counts_its_trials_and_shows_the_trial_under_way(rig):
    r = rig()
    job = r.submit(epochs=10, total_trials=4)
    r.tick()
    worker = r.worker(job)
    worker.epochs(1, 2, 3, 4, 5)
    r.tick(1)
    assert job.where == "trial 1 of 4 · epoch 5 of 10" and job.progress == pytest.approx(0.125)
    worker.send(("trial", {"number": 0, "state": "complete"}))
    worker.epochs(1, 2)
    r.tick(1)
    assert job.trials == [{"number": 0, "state": "complete"}]
    assert [e.epoch for e in job.epochs] == [1, 2]  # the second trial's own epochs
    assert job.where == "trial 2 of 4 · epoch 2 of 10" and job.progress == pytest.approx(0.3)
    assert ("trial", {"number": 0, "state": "complete"}) in job.log
    worker.finish(run_of(2))
    r.tick(1)
    assert_ended_once(job, FINISHED)
    assert job.where == "trial 1 of 4 · epoch 2 of 10"  # ended: the trials it finished
