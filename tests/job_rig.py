"""The JobManager's test rig: fake workers and launcher, a clock of our own, a manager with
background=False (tick() by hand), and the checks every ending must pass; shared by
test_job_manager.py, test_job_leases.py and test_job_progress.py."""
from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import pytest

from mlcore.job import JobLimits, JobState
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
