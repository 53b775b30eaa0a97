"""Training jobs for real: a JobManager with its LocalLauncher and background thread, each
job in a `python -m mlcore.worker` process (niced, memory-capped), its events streamed
back; stops, the FIFO queue, resumes, limits, crashes and leases end to end."""
from __future__ import annotations

import os
import secrets
import signal
import time

import numpy as np
import pandas as pd
import pytest

from mlcore import checkpoint
from mlcore.errors import BundleError
from mlcore.job import JobLimits, JobState, resume_point
from mlcore.jobs import JobManager
from mlcore.model import ModelConfig
from mlcore.samples import SAMPLES
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.training import TrainConfig
from mlcore.workflow import prepare


@pytest.fixture(scope="module")
def prepared():
    sample = SAMPLES["students"]
    train = read_table(sample.train_path(), names=list(sample.columns)).frame
    test = read_table(sample.test_path(), names=list(sample.columns)).frame
    return prepare(train, infer_schema(train), test)


@pytest.fixture(scope="module")
def shared():
    """One manager for the tests that need no settings of their own: its LocalLauncher's
    warm spare worker saves each of them a Python start."""
    manager = JobManager(slots=2, lease_s=600, limits=JobLimits())
    yield manager
    manager.close()


@pytest.fixture
def session(shared):
    """A session of the test's own on the shared manager; its jobs are stopped after."""
    name = secrets.token_urlsafe(8)
    yield name
    for job in shared.jobs(name):
        shared.stop(job.id)
    for job in shared.jobs(name):
        wait_ended(job, timeout=30)


@pytest.fixture
def make_manager():
    """JobManager(...) with the real LocalLauncher; every one made is closed afterwards."""
    made = []

    def make(**options) -> JobManager:
        options.setdefault("limits", JobLimits())  # not whatever STUDIO_JOB_* says here
        options.setdefault("lease_s", 600)  # these tests send no heartbeats
        made.append(JobManager(**options))
        return made[-1]

    yield make
    for manager in made:
        manager.close()


def submit(manager: JobManager, prepared, session: str = "s", model: ModelConfig | None = None,
           checkpoint_dir=None, resume=None, **train):
    """What the Train page submits (resume_point read first, as the page does)."""
    config = TrainConfig(**train)
    first, done = resume_point(resume) if resume else (0, [])
    return manager.submit(session, "fit", {
        "prepared": prepared, "model_config": model or ModelConfig(), "train_config": config,
        "checkpoint_dir": checkpoint_dir, "resume": resume},
        total_epochs=config.epochs, first_epoch=first, epochs=done)


def wait_until(condition, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def wait_ended(job, timeout: float = 60) -> None:
    wait_until(lambda: not job.active, timeout, f"the job to end ({job.state})")


def training(job, epochs: int = 1, also=lambda: None):
    """Wait until the job's worker has sent `epochs` epochs; its handle (a LocalWorker)."""
    def ready() -> bool:
        also()
        return len(job.epochs) >= epochs or not job.active

    wait_until(ready, what="epochs from the worker")
    handle = job.handle
    assert job.state == JobState.RUNNING and handle is not None, (job.state, job.message)
    return handle


def exit_code(handle, timeout: float = 10) -> int:
    """The worker process's exit status (the manager reaps it just after the job ends)."""
    wait_until(lambda: handle.process.poll() is not None, timeout, "the worker to exit")
    return handle.process.returncode


def states(manager: JobManager, job) -> list[JobState]:
    return [value for kind, value in manager.events(job.id) if kind == "state"]


def test_a_job_trains_in_a_worker_streams_epochs_and_keeps_the_last_checkpoints(
        shared, session, prepared):
    manager = shared
    folder = manager.workdir(session) / "run-1"
    job = submit(manager, prepared, session, epochs=8, checkpoint_every=2, checkpoint_dir=folder)
    wait_ended(job)
    assert job.state == JobState.FINISHED, job.message
    assert states(manager, job) == [JobState.QUEUED, JobState.RUNNING, JobState.FINISHED]
    streamed = [value.epoch for kind, value in manager.events(job.id) if kind == "epoch"]
    assert streamed == list(range(1, 9))  # each epoch as it came, before the end
    assert [e.epoch for e in job.epochs] == [e.epoch for e in job.result.history.epochs]
    assert job.result.reports["test"].n == 40 and job.result.history.stopped == ""
    saved = [checkpoint.checkpoint_path(folder, e).name for e in (2, 4, 6, 8)]
    assert sorted(p.name for p in folder.glob("epoch-*.pt")) == saved[-checkpoint.KEEP:]
    assert job.progress == 1.0 and job.message is None and job.handle is None
    assert job.started is not None and job.finished >= job.started


def test_stop_keeps_what_was_learned(shared, session, prepared):
    manager = shared
    job = submit(manager, prepared, session, epochs=5000)
    handle = training(job, epochs=2)
    manager.stop(job.id)
    wait_ended(job)
    assert job.state == JobState.STOPPED, job.message
    assert states(manager, job)[-2:] == [JobState.STOPPING, JobState.STOPPED]
    history = job.result.history
    assert 2 <= len(history.epochs) < 5000 and history.stopped == "user"
    assert job.epochs == history.epochs and job.message is None
    # it stopped when asked; the manager may still kill it if (niced, on a busy machine)
    # it takes more than 5 s to exit after handing over its result
    assert exit_code(handle) in (0, -signal.SIGKILL)


def test_jobs_beyond_the_slots_wait_in_fifo_order(make_manager, prepared):
    manager = make_manager(slots=1)
    first = submit(manager, prepared, "a", epochs=5000)
    second, third, fourth = (submit(manager, prepared, s, epochs=1) for s in "bcd")
    training(first)
    assert [j.state for j in (second, third, fourth)] == [JobState.QUEUED] * 3
    assert [j.position for j in (second, third, fourth)] == [1, 2, 3]
    manager.stop(third.id)  # leaving the queue never starts a worker
    assert third.state == JobState.STOPPED and third.result is None and third.started is None
    assert fourth.position == 2
    manager.stop(first.id)
    wait_ended(second)
    wait_ended(fourth)
    assert first.state == JobState.STOPPED
    assert second.state == fourth.state == JobState.FINISHED, (second.message, fourth.message)
    assert first.finished <= second.started <= second.finished <= fourth.started


def test_resume_from_a_damaged_checkpoint_fails_in_one_sentence(shared, session, prepared,
                                                                tmp_path):
    bad = tmp_path / "epoch-00001.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(BundleError, match="not a readable checkpoint"):
        resume_point(bad)  # the Train page reads it before queueing anything
    manager = shared
    job = manager.submit(session, "fit", {  # and the worker refuses it too
        "prepared": prepared, "model_config": ModelConfig(),
        "train_config": TrainConfig(epochs=2), "resume": bad}, total_epochs=2)
    wait_ended(job)
    assert job.state == JobState.FAILED and job.result is None
    assert job.message.startswith(f"{bad}: not a readable checkpoint (")
    assert "\n" not in job.message


def test_resume_checks_the_checkpoints_settings(shared, session, prepared):
    """The same settings continue from the checkpoint; other ones fail in one line."""
    manager = shared
    folder = manager.workdir(session) / "run-1"
    first = submit(manager, prepared, session, epochs=2, checkpoint_every=2, checkpoint_dir=folder)
    wait_ended(first)
    assert first.state == JobState.FINISHED, first.message
    saved = folder / "epoch-00002.pt"
    same = submit(manager, prepared, session, epochs=4, checkpoint_every=2, checkpoint_dir=folder,
                  resume=saved)
    other = submit(manager, prepared, session, model=ModelConfig(activation="relu"), epochs=4,
                   checkpoint_every=2, checkpoint_dir=folder, resume=saved)
    assert same.first_epoch == 2 and [e.epoch for e in same.epochs] == [1, 2]
    assert same.progress == 0 and same.where == "epoch 2 of 4"
    wait_ended(same)
    wait_ended(other)
    assert same.state == JobState.FINISHED, same.message
    assert [e.epoch for e in same.result.history.epochs] == [1, 2, 3, 4]
    assert other.state == JobState.FAILED and other.result is None
    assert other.message == ("epoch-00002.pt was trained with activation=tanh, not relu; "
                             "resume with the same settings or start a new run")


def test_long_epochs_report_rows_inside_the_epoch(shared, session):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60_000, 4)).round(3).astype(str),
                         columns=list("abcd"))
    frame["label"] = np.where(rng.random(60_000) < 0.5, "yes", "no")
    manager = shared
    job = submit(manager, prepare(frame, infer_schema(frame)), session, epochs=2,
                 batch_size=1)
    seen = []

    def look() -> bool:
        where, progress = job.where, job.progress
        if job.state == JobState.RUNNING and "rows" in where:
            seen.append((where, progress))
        return len(seen) >= 2 or not job.active

    wait_until(look, what="rows inside the first epoch")
    manager.stop(job.id)  # seen enough: no need to train 120,000 batches
    wait_ended(job)
    assert seen, (job.state, job.message)
    where, progress = seen[0]
    assert where.startswith("epoch 0 of 2 · rows ") and where.endswith(" of 48,000 in epoch 1")
    assert 0 < progress < 0.5
    assert job.state in (JobState.STOPPED, JobState.FINISHED), job.message


def address_space_limit(pid: int) -> tuple[str, str]:
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max address space"))
    soft, hard = line.split()[3:5]
    return soft, hard


def test_the_worker_runs_at_lower_priority_with_its_memory_cap(shared, session, prepared):
    manager, limits = shared, shared.limits
    assert limits.nice == 10 and limits.memory_bytes == 4 * 2**30
    job = submit(manager, prepared, session, epochs=5000)
    handle = training(job)
    pid = handle.process.pid
    server = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, server + limits.nice)
    soft, hard = address_space_limit(pid)
    assert soft == hard != "unlimited"
    # the cap is what the worker had mapped when the job came, plus the job's allowance
    assert limits.memory_bytes < int(soft) < limits.memory_bytes + 16 * 2**30
    assert address_space_limit(os.getpid()) != (soft, hard)  # the server is not capped
    manager.stop(job.id)
    wait_ended(job)
    assert job.state == JobState.STOPPED


def test_a_memory_limit_too_small_for_the_job_fails_it_in_one_sentence(make_manager,
                                                                       prepared):
    manager = make_manager(limits=JobLimits(memory_bytes=2**20))
    job = submit(manager, prepared, model=ModelConfig(hidden=(4096, 4096)), epochs=2)
    wait_ended(job)
    assert job.state == JobState.FAILED and job.result is None
    assert job.message == ("the job went past its memory limit of 1 MB and was stopped; use "
                           "fewer rows, fewer columns or a smaller network")


def test_a_killed_worker_fails_the_job(shared, session, prepared):
    manager = shared
    job = submit(manager, prepared, session, epochs=5000)
    handle = training(job)
    os.kill(handle.process.pid, signal.SIGKILL)
    wait_ended(job)
    assert job.state == JobState.FAILED and job.result is None
    assert job.message == "the training process ended unexpectedly (killed by signal 9)"
    assert [s for s in states(manager, job) if s.ended] == [JobState.FAILED]


def test_a_lease_that_runs_out_stops_the_worker_and_removes_the_session_folder(
        make_manager, prepared):
    manager = make_manager(lease_s=3.0)
    folder = manager.workdir("s")
    job = submit(manager, prepared, epochs=5000, checkpoint_every=1,
                 checkpoint_dir=folder / "run-1")
    handle = training(job, epochs=2, also=lambda: manager.lease("s"))  # the tab is open
    assert any((folder / "run-1").glob("epoch-*.pt"))
    wait_ended(job, timeout=30)  # the tab closed: no more heartbeats
    assert job.state == JobState.EXPIRED
    assert job.message == "its browser session went away, so it was stopped"
    assert job.result is None
    wait_until(lambda: not folder.exists(), 10, "the session folder to go")
    assert exit_code(handle) in (0, -signal.SIGKILL)  # asked to stop, it stopped
    assert manager.get(job.id) is None and manager.jobs("s") == []


def test_close_kills_running_workers_and_removes_the_root(prepared):
    manager = JobManager(lease_s=600, limits=JobLimits())
    try:
        job = submit(manager, prepared, epochs=5000)
        handle = training(job)
        root = manager.root
        assert root.exists()
    finally:
        manager.close()
    assert exit_code(handle) == -signal.SIGKILL
    assert not root.exists()
