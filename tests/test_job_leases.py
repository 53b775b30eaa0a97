"""JobManager: sessions' leases (a closed tab's jobs and folder go) and every order of the
events that end a job (stop, finish, crash, failure, expiry), each ending exactly once."""
from __future__ import annotations

import itertools

import pytest

from job_rig import (EXPIRED, FAILED, FINISHED, QUEUED, RUNNING, STOPPED, STOPPING,
                     assert_ended_once, one_sentence, run_of, rig)  # noqa: F401 (rig: the fixture)
from mlcore.job import JobState


# ---- leases -----------------------------------------------------------------------------
def test_a_lease_that_runs_out_expires_the_sessions_queued_jobs(rig):
    r = rig(slots=1)
    other = r.submit("b")
    mine = r.submit("a")
    folder = r.manager.workdir("a")
    (folder / "run-1").mkdir()
    r.tick()
    assert other.state == RUNNING and mine.position == 1
    r.tick(20)
    r.manager.lease("b")
    r.tick(10)  # exactly lease_s since a's last heartbeat: still kept
    assert mine.state == QUEUED and folder.exists()
    r.tick(0.5)
    assert_ended_once(mine, EXPIRED)
    assert mine.message == "its browser session went away" and mine.started is None
    assert not folder.exists() and r.manager.get(mine.id) is None
    assert other.state == RUNNING and len(r.launcher.workers) == 1
    assert r.manager.get(other.id) is other


ARRIVALS = ["stopped result", "complete result", "failed", "death", "ignores the stop"]


@pytest.mark.parametrize("arrives", ARRIVALS)
def test_a_lease_that_runs_out_stops_the_running_job_then_expires_it(rig, arrives):
    r = rig(slots=1, grace_s=5)
    running, queued = r.submit("a"), r.submit("a")
    folder = r.manager.workdir("a")
    (folder / "epoch-00001.pt").write_bytes(b"x")
    r.tick()
    worker = r.worker(running)
    r.tick(31)
    assert_ended_once(queued, EXPIRED)
    assert running.state == STOPPING and worker.calls == ["start", "request_stop"]
    assert folder.exists()  # its running job has not ended yet
    if arrives == "stopped result":
        worker.finish(run_of(2, "user"))
    elif arrives == "complete result":
        worker.finish(run_of(3))
    elif arrives == "failed":
        worker.fail("training failed: RuntimeError: boom")
    elif arrives == "death":
        worker.die()
    else:
        r.tick(5.5)
        assert worker.calls[-1] == "terminate" and folder.exists()
        r.tick(5)
        assert worker.calls[-1] == "kill"
    r.tick(1)
    assert_ended_once(running, EXPIRED)
    assert running.message == "its browser session went away, so it was stopped"
    assert running.result is None and one_sentence(running.message)
    assert not folder.exists()
    assert r.manager.jobs("a") == [] and r.manager.get(running.id) is None


def test_a_lease_renewed_in_time_keeps_jobs_and_folder(rig):
    r = rig(slots=1)
    running, queued = r.submit("a", epochs=100), r.submit("a")
    folder = r.manager.workdir("a")
    r.tick()
    for _ in range(10):
        r.tick(25)
        r.manager.lease("a")
    assert running.state == RUNNING and queued.state == QUEUED and queued.position == 1
    assert not r.worker(running).asked_to_stop and folder.exists()
    assert r.manager.jobs("a") == [running, queued]


def test_a_session_without_jobs_loses_its_folder_when_its_lease_runs_out(rig):
    r = rig()
    r.manager.lease("a")
    folder = r.manager.workdir("a")
    r.tick(31)
    assert not folder.exists()


def test_a_user_stop_then_lease_expiry_ends_expired(rig):
    r = rig(grace_s=100)
    job = r.submit("a")
    r.tick()
    r.manager.stop(job.id)
    r.tick(31)
    r.worker(job).finish(run_of(1, "user"))
    r.tick(1)
    assert_ended_once(job, EXPIRED)


# ---- every order of the events that end a job -------------------------------------------
WORKER_ENDS = ("finish", "crash", "fail")


def orders():
    for end in WORKER_ENDS:
        for extra in ((), ("stop",), ("expire",), ("stop", "expire")):
            for order in itertools.permutations(extra + (end,)):
                for tick_each in (True, False):
                    yield pytest.param(order, tick_each,
                                       id=("-".join(order) + ("/tick-each" if tick_each
                                                              else "/tick-once")))


def expected_end(order: tuple, tick_each: bool) -> JobState:
    """The rules: the lease expiring before the manager learns of the end wins; then a stop
    before it (a stop() acts at once, an expiry and the worker's events at the next tick);
    a result after a stop is STOPPED only if the worker had been asked to stop in time."""
    end = next(step for step in order if step in WORKER_ENDS)
    before = order[:order.index(end)]
    expired = "expire" in (before if tick_each else order)
    stopped = "stop" in (before if tick_each else order)
    if expired:
        return EXPIRED
    if end == "fail":
        return FAILED
    if end == "crash":
        return STOPPED if stopped else FAILED
    return STOPPED if "stop" in before else FINISHED


@pytest.mark.parametrize("order,tick_each", list(orders()))
def test_every_order_of_stop_finish_crash_and_expiry_ends_once(rig, order, tick_each):
    r = rig(slots=1, lease_s=30, grace_s=1000)
    job = r.submit("a", epochs=3)
    folder = r.manager.workdir("a")
    r.tick()
    worker = r.worker(job)
    worker.epochs(1)
    r.tick(1)
    for step in order:
        if step == "stop":
            r.manager.stop(job.id)
        elif step == "expire":
            r.clock.advance(31)
        elif step == "finish" and not worker.dead:
            worker.epochs(2, 3)
            worker.finish(run_of(3, "user" if worker.asked_to_stop else ""))
        elif step == "crash" and not worker.dead:
            worker.die()
        elif step == "fail" and not worker.dead:
            worker.fail("training failed: RuntimeError: boom")
        if tick_each:
            r.tick()
    r.tick()
    r.tick(1)
    state = expected_end(order, tick_each)
    assert_ended_once(job, state)
    assert worker.calls.count("close") == 1
    assert worker.calls.count("request_stop") <= 1
    end = next(step for step in order if step in WORKER_ENDS)
    assert (job.result is not None) == (state in (FINISHED, STOPPED) and end == "finish")
    if job.message is not None:
        assert one_sentence(job.message)
    if "expire" in order:  # the session went away: its folder goes once its job ended
        assert not folder.exists() and r.manager.get(job.id) is None
    else:
        assert folder.exists()
        log = r.manager.events(job.id)
        assert [v for k, v in log if k == "state" and v.ended] == [state]
    later = r.submit("b")  # the slot is free again
    r.tick()
    assert later.state == RUNNING
