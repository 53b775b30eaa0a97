"""JobManager unit tests: fake workers, a clock of our own, tick() called by hand.

With background=False nothing happens between two calls the test makes, so every
interleaving of stop, finish, crash, wall time and lease expiry is driven exactly."""
from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import pytest

from mlcore.errors import LimitError
from mlcore.job import Job, JobLimits, JobState
from mlcore.jobs import JobManager
from mlcore.training import EpochStats, History

QUEUED, RUNNING, STOPPING = JobState.QUEUED, JobState.RUNNING, JobState.STOPPING
FINISHED, FAILED, STOPPED, EXPIRED = (JobState.FINISHED, JobState.FAILED, JobState.STOPPED,
                                      JobState.EXPIRED)
# every state change a job may make; anything else is a bug
MOVES = {QUEUED: {RUNNING, STOPPED, EXPIRED, FAILED},
         RUNNING: {STOPPING, FINISHED, FAILED},
         STOPPING: {STOPPED, FINISHED, FAILED, EXPIRED}}


def stats(epoch: int) -> EpochStats:
    return EpochStats(epoch, 1.0 / epoch, 0.5, None, None, 0.1 * epoch)


@dataclass
class FakeRun:
    """What a fit job hands over; the manager reads only its history (as workflow.Run's)."""

    history: History


def run_of(epochs: int, stopped: str = "") -> FakeRun:
    return FakeRun(History(epochs=[stats(e) for e in range(1, epochs + 1)], stopped=stopped))


class FakeWorker:
    """The WorkerHandle protocol with scripted events. Events sent before it "dies" are
    still read (as from a dead process's socket); then poll raises EOFError (eof=True) or
    keeps answering None (a handle that cannot tell). It dies of the signals in dies_of."""

    def __init__(self) -> None:
        self.events: deque = deque()
        self.calls: list[str] = []
        self.payload: dict | None = None
        self.dead = False
        self.exit = "still running"
        self.eof = True
        self.dies_of = {"kill"}
        self.start_error: Exception | None = None

    # what the test scripts
    def send(self, *events: tuple) -> None:
        self.events.extend(events)

    def epochs(self, *numbers: int) -> None:
        self.send(*(("epoch", stats(n)) for n in numbers))

    def finish(self, result: object) -> None:
        self.send(("done", result))
        self.die("exit code 0")

    def fail(self, message: str) -> None:
        self.send(("failed", message))
        self.die("exit code 0")

    def die(self, exit: str = "killed by signal 9") -> None:
        self.dead, self.exit = True, exit

    @property
    def asked_to_stop(self) -> bool:
        return "request_stop" in self.calls

    # the protocol
    def start(self, payload: dict) -> None:
        self.calls.append("start")
        if self.start_error is not None:
            raise self.start_error
        self.payload = payload

    def poll(self) -> tuple | None:
        if self.events:
            return self.events.popleft()
        if self.dead and self.eof:
            raise EOFError
        return None

    def request_stop(self) -> None:
        self.calls.append("request_stop")

    def terminate(self) -> None:
        self.calls.append("terminate")
        if "terminate" in self.dies_of:
            self.die("killed by signal 15")

    def kill(self) -> None:
        self.calls.append("kill")
        if "kill" in self.dies_of:
            self.die("killed by signal 9")

    def alive(self) -> bool:
        return not self.dead

    def exit_text(self) -> str:
        return self.exit

    def close(self) -> None:
        self.calls.append("close")


class FakeLauncher:
    def __init__(self) -> None:
        self.workers: list[FakeWorker] = []
        self.error: Exception | None = None
        self.closed = False

    def __call__(self) -> FakeWorker:
        if self.error is not None:
            raise self.error
        worker = FakeWorker()
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Rig:
    """A manager on fake workers and a fake clock, and shortcuts for the tests."""

    def __init__(self, root, **options) -> None:
        self.clock, self.launcher = Clock(), FakeLauncher()
        options = {"slots": 1, "lease_s": 30.0, "grace_s": 5.0, "limits": JobLimits(), **options}
        self.manager = JobManager(launcher=self.launcher, clock=self.clock, root=root,
                                  background=False, **options)
        self.count = 0

    def submit(self, session: str = "a", epochs: int = 3, **progress):
        self.count += 1
        return self.manager.submit(session, "fit", {"n": self.count}, total_epochs=epochs,
                                   **progress)

    def tick(self, advance: float = 0.0) -> None:
        self.clock.advance(advance)
        self.manager.tick()

    def worker(self, job) -> FakeWorker:
        assert job.handle is not None, job.state
        return job.handle

    def started(self) -> list[int]:
        """The jobs given to workers, in the order they started (their args["n"])."""
        return [w.payload["args"]["n"] for w in self.launcher.workers if w.payload]


@pytest.fixture
def rig(tmp_path):
    made = []

    def make(**options) -> Rig:
        made.append(Rig(tmp_path / f"jobs{len(made)}", **options))
        return made[-1]

    yield make
    for each in made:
        each.manager.close()


def states(job) -> list[JobState]:
    return [value for kind, value in job.log if kind == "state"]


def assert_ended_once(job, state: JobState) -> None:
    """Ended in `state`, through allowed moves only, with exactly one end entry in its log."""
    seen = states(job)
    assert job.state == state, (seen, job.message)
    assert [s for s in seen if s.ended] == [state], seen
    assert seen[0] == QUEUED
    for before, after in itertools.pairwise(seen):
        assert after in MOVES.get(before, ()), seen
    assert job.finished is not None and job.handle is None and job.rows is None
    assert not job.active and job.position == 0


def one_sentence(text: str | None) -> bool:
    return bool(text) and "\n" not in text and ". " not in text and not text.endswith(".")


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
