"""JobManager unit tests (rig: tests/job_rig.py): the queue, stop, finish and crash, the
wall-time limit, launch failures, the memory of ended jobs and close. With background=False
nothing happens between two calls the test makes, so every interleaving is driven exactly."""
from __future__ import annotations

import pytest

from job_rig import (FAILED, FINISHED, QUEUED, RUNNING, STOPPED, STOPPING, FakeWorker,
                     assert_ended_once, one_sentence, run_of, rig)  # noqa: F401 (rig: the fixture)
from mlcore.errors import LimitError
from mlcore.job import JobLimits
from mlcore.jobs import JobManager


# ---- queue ------------------------------------------------------------------------------
def test_five_jobs_start_in_fifo_order_on_two_slots_with_live_positions(rig):
    r = rig(slots=2)
    jobs = [r.submit(f"s{i}") for i in range(5)]
    assert [j.position for j in jobs] == [1, 2, 3, 4, 5]
    assert all(j.state == QUEUED for j in jobs)
    r.tick()
    assert [j.state for j in jobs] == [RUNNING, RUNNING, QUEUED, QUEUED, QUEUED]
    assert [j.position for j in jobs] == [0, 0, 1, 2, 3]
    assert r.started() == [1, 2]
    payload = r.launcher.workers[0].payload
    assert payload["task"] == "fit" and set(payload["limits"]) == {"memory_bytes", "nice"}

    r.tick(1)  # nothing ended: nothing else starts
    assert r.started() == [1, 2] and [j.position for j in jobs] == [0, 0, 1, 2, 3]

    r.worker(jobs[0]).finish(run_of(3))
    r.tick(1)
    assert jobs[0].state == FINISHED and jobs[2].state == RUNNING
    assert [j.position for j in jobs] == [0, 0, 0, 1, 2]

    r.worker(jobs[1]).die()  # a crash frees its slot too
    r.tick(1)
    assert jobs[1].state == FAILED and jobs[3].state == RUNNING
    assert [j.position for j in jobs] == [0, 0, 0, 0, 1]

    r.worker(jobs[2]).finish(run_of(3))
    r.worker(jobs[3]).finish(run_of(3))
    r.tick(1)
    assert jobs[4].state == RUNNING and [j.position for j in jobs] == [0] * 5
    assert r.started() == [1, 2, 3, 4, 5]
    assert [j.started for j in jobs] == sorted(j.started for j in jobs)
    r.worker(jobs[4]).finish(run_of(3))
    r.tick(1)
    for job in jobs:
        assert_ended_once(job, FAILED if job is jobs[1] else FINISHED)


def test_a_stopping_job_keeps_its_slot_until_its_worker_ends(rig):
    r = rig(slots=1)
    first, second = r.submit("a"), r.submit("b")
    r.tick()
    r.manager.stop(first.id)
    r.tick(1)
    assert first.state == STOPPING and second.state == QUEUED and second.position == 1
    r.worker(first).finish(run_of(1, "user"))
    r.tick(1)
    assert first.state == STOPPED and second.state == RUNNING


def test_a_session_may_queue_only_a_few_jobs(rig):
    r = rig(slots=1, per_session=2)
    r.submit("a"), r.submit("a")
    with pytest.raises(LimitError) as caught:
        r.submit("a")
    assert str(caught.value) == ("you already have 2 jobs waiting for a training slot; wait "
                                 "for one to start or stop one")
    assert one_sentence(str(caught.value))
    assert len(r.manager.jobs("a")) == 2
    r.submit("b")  # another session has its own allowance
    r.tick()  # a's first job runs: it no longer counts as waiting
    third = r.submit("a")
    assert third.position == 3
    with pytest.raises(LimitError):
        r.submit("a")


def test_stop_while_queued_leaves_the_queue_without_a_worker(rig):
    r = rig(slots=1)
    first, second, third = r.submit("a"), r.submit("b"), r.submit("c")
    r.tick()
    r.manager.stop(second.id)
    assert second.state == STOPPED and second.message == "stopped before it started"
    assert third.position == 1
    r.manager.stop(second.id)  # again: nothing changes
    r.manager.stop("no such job")
    r.tick(1)
    assert_ended_once(second, STOPPED)
    assert second.result is None and second.started is None
    r.worker(first).finish(run_of(3))
    r.tick(1)
    assert r.started() == [1, 3]


# ---- stop, finish and crash -------------------------------------------------------------
def test_stop_while_running_then_the_result_arrives(rig):
    r = rig()
    job = r.submit(epochs=10)
    r.tick()
    worker = r.worker(job)
    worker.epochs(1, 2)
    r.tick(1)
    r.manager.stop(job.id)
    assert job.state == STOPPING and worker.calls == ["start", "request_stop"]
    r.manager.stop(job.id)  # pressing again asks nothing more
    assert worker.calls.count("request_stop") == 1
    worker.finish(run_of(2, "user"))
    r.tick(1)
    assert_ended_once(job, STOPPED)
    assert job.result.history.stopped == "user" and job.message is None
    assert [e.epoch for e in job.epochs] == [1, 2]
    assert worker.calls == ["start", "request_stop", "close"]


def test_stop_pressed_while_a_finished_job_hands_over_its_result(rig):
    r = rig()
    job = r.submit(epochs=3)
    r.tick()
    worker = r.worker(job)
    worker.epochs(1, 2, 3)
    worker.finish(run_of(3))  # it has sent everything; the manager has not read it yet
    r.manager.stop(job.id)
    r.tick(1)
    assert_ended_once(job, FINISHED)
    assert job.result.history.stopped == "" and job.message is None
    assert job.progress == 1.0


def test_stop_then_the_worker_dies_without_a_result(rig):
    r = rig()
    job = r.submit()
    r.tick()
    r.manager.stop(job.id)
    r.worker(job).die("exit code 1")
    r.tick(1)
    assert_ended_once(job, STOPPED)
    assert job.result is None and job.message == "stopped before it finished an epoch"


@pytest.mark.parametrize("eof", [True, False], ids=["eof", "no-eof"])
@pytest.mark.parametrize("exit", ["killed by signal 9", "exit code 1"])
def test_a_crash_without_a_stop_fails_naming_the_exit(rig, eof, exit):
    r = rig()
    job = r.submit()
    r.tick()
    worker = r.worker(job)
    worker.eof = eof
    worker.epochs(1)
    worker.die(exit)
    r.tick(1)
    assert_ended_once(job, FAILED)
    assert job.message == f"the training process ended unexpectedly ({exit})"
    assert one_sentence(job.message) and job.result is None
    assert [e.epoch for e in job.epochs] == [1]  # what it sent before it died was read
    assert worker.calls == ["start", "close"]


def test_a_failed_event_fails_the_job_with_its_sentence(rig):
    r = rig()
    job = r.submit()
    r.tick()
    r.worker(job).fail("the label column has only one class")
    r.tick(1)
    assert_ended_once(job, FAILED)
    assert job.message == "the label column has only one class" and job.result is None


def test_the_result_sent_just_before_the_worker_exits_is_not_lost(rig):
    """The worker sends its result and exits between the manager's poll (nothing yet) and
    its alive() check: the result is in the socket and must still be read."""
    r = rig()
    job = r.submit()
    r.tick()
    worker = r.worker(job)
    checked = worker.alive

    def alive() -> bool:
        if not worker.dead:
            worker.finish(run_of(3))  # ... just now
        return checked()

    worker.alive = alive
    r.tick(1)
    assert_ended_once(job, FINISHED)
    assert job.result is not None


def test_a_stop_not_obeyed_is_escalated_to_sigterm_then_sigkill(rig):
    r = rig(grace_s=5)
    job = r.submit()
    r.tick()
    worker = r.worker(job)
    r.tick(1)
    r.manager.stop(job.id)
    r.tick(5)
    assert worker.calls == ["start", "request_stop"]
    r.tick(0.1)
    assert worker.calls == ["start", "request_stop", "terminate"]
    r.tick(1)
    assert worker.calls.count("terminate") == 1
    r.tick(3.9)  # 10 s after the stop: not yet
    assert "kill" not in worker.calls and job.state == STOPPING
    r.tick(0.1)
    assert worker.calls == ["start", "request_stop", "terminate", "kill"]
    r.tick(1)  # it died of the kill
    assert_ended_once(job, STOPPED)
    assert job.message == "it did not stop within 5 s, so it was ended by force"
    assert worker.calls[-1] == "close" and job.result is None


def test_a_worker_that_dies_of_sigterm_is_stopped_by_force(rig):
    r = rig(grace_s=5)
    job = r.submit()
    r.tick()
    worker = r.worker(job)
    worker.dies_of = {"terminate", "kill"}
    r.manager.stop(job.id)
    r.tick(5.1)
    r.tick(0.1)
    assert_ended_once(job, STOPPED)
    assert "kill" not in worker.calls
    assert job.message == "it did not stop within 5 s, so it was ended by force"


# ---- wall time --------------------------------------------------------------------------
WALL = "it ran past its wall-time limit of 60 s and was stopped"


@pytest.mark.parametrize("ending", ["partial result", "no result", "ignores the stop"])
def test_the_wall_time_limit_stops_the_job_in_one_sentence(rig, ending):
    r = rig(limits=JobLimits(wall_s=60), grace_s=5, lease_s=1e9)
    job = r.submit(epochs=100)
    r.tick()
    worker = r.worker(job)
    worker.epochs(1, 2)
    r.tick(60)
    assert job.state == RUNNING and not worker.asked_to_stop
    r.tick(0.5)
    assert job.state == STOPPING and worker.calls == ["start", "request_stop"]
    if ending == "partial result":
        worker.epochs(3)
        worker.finish(run_of(3, "user"))
    elif ending == "no result":
        worker.die("exit code 0")
    r.tick(1)
    if ending == "ignores the stop":
        r.tick(10)  # killed after twice the grace period
        assert worker.calls[-1] == "kill"
        r.tick(1)
    assert_ended_once(job, STOPPED)
    assert job.message == WALL and one_sentence(job.message)
    if ending == "partial result":
        assert [e.epoch for e in job.result.history.epochs] == [1, 2, 3]
        assert [e.epoch for e in job.epochs] == [1, 2, 3]
    else:
        assert job.result is None


def test_a_job_that_completes_as_its_wall_time_runs_out_is_finished_without_a_message(rig):
    r = rig(limits=JobLimits(wall_s=60), lease_s=1e9)
    job = r.submit(epochs=3)
    r.tick()
    r.tick(61)
    worker = r.worker(job)
    assert worker.asked_to_stop
    worker.finish(run_of(3))  # the last epoch was done before the stop was read
    r.tick(1)
    assert_ended_once(job, FINISHED)
    assert job.result is not None and job.message is None


def test_queued_time_does_not_count_against_the_wall_time(rig):
    r = rig(limits=JobLimits(wall_s=60), slots=1, lease_s=1e9)
    first, second = r.submit("a"), r.submit("b")
    r.tick()
    r.tick(50)
    r.worker(first).finish(run_of(3))
    r.tick(15)
    assert second.state == RUNNING and second.started == first.finished
    r.tick(60)
    assert second.state == RUNNING and not r.worker(second).asked_to_stop
    r.tick(0.5)
    assert second.state == STOPPING


# ---- launch failures, memory of ended jobs, close ---------------------------------------
def test_a_launcher_that_raises_fails_the_job_in_one_sentence(rig):
    r = rig(slots=1)
    first, second = r.submit("a"), r.submit("b")
    r.launcher.error = OSError("no more processes")
    r.tick()
    for job in (first, second):
        assert_ended_once(job, FAILED)
        assert job.message == "no training worker could start: OSError: no more processes"
        assert one_sentence(job.message)
    r.launcher.error = None
    third = r.submit("c")
    r.tick()
    assert third.state == RUNNING  # no slot was lost


def test_a_worker_that_cannot_take_its_job_is_failed_and_shut_down(rig):
    r = rig(slots=1)

    def broken() -> FakeWorker:
        worker = r.launcher()
        worker.start_error = TypeError("cannot pickle '_thread.lock' object")
        return worker

    r.manager.launcher = broken
    job = r.manager.submit("a", "fit", {})
    r.tick()
    assert_ended_once(job, FAILED)
    assert job.message == ("no training worker could start: TypeError: cannot pickle "
                           "'_thread.lock' object")
    worker = r.launcher.workers[0]
    assert "kill" in worker.calls and worker.calls[-1] == "close"  # no idle process left


def test_only_a_few_ended_jobs_are_remembered_per_session(rig):
    r = rig(slots=1)
    other = r.submit("b")
    r.tick()
    r.worker(other).finish(run_of(3))
    r.tick()
    done = []
    for _ in range(6):
        done.append(r.submit("a"))
        r.tick()
        r.worker(done[-1]).finish(run_of(3))
        r.tick()
    newest = r.submit("a")
    kept = r.manager.jobs("a")
    assert kept == done[-JobManager.KEEP_ENDED:] + [newest]
    assert r.manager.get(done[0].id) is None and r.manager.get(done[-1].id) is done[-1]
    assert r.manager.jobs("b") == [other]


def test_close_kills_running_workers_and_removes_the_root(rig):
    r = rig(slots=2)
    jobs = [r.submit("a"), r.submit("b"), r.submit("c")]
    r.manager.workdir("a").joinpath("x").write_text("x")
    r.tick()
    r.manager.close()
    for worker in r.launcher.workers:
        assert worker.calls[-2:] == ["kill", "close"]
    assert len(r.launcher.workers) == 2 and jobs[2].handle is None
    assert r.launcher.closed and not r.manager.root.exists()
