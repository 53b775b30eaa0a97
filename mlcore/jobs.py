"""The job service of a dashboard that serves many people at once: one JobManager per server.

Every training run (and the overfit check) is a job: plain data (mlcore.tasks) that runs in
a worker (mlcore.workers: a local process at lower CPU priority, or a Ray actor), never in
the server. The manager keeps a first-in first-out queue, runs a few jobs at a time, streams
their events, escalates stops (ask, then SIGTERM, then SIGKILL), enforces each job's wall
time, and leases: a browser session that stops heartbeating loses its queued jobs, has its
running job stopped and its folder removed. All state changes happen in `tick()`, under one
lock, so tests drive every interleaving with fake workers and a clock of their own.
"""
from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import LimitError
from .job import Job, JobLimits, JobState, default_slots
from .training import EpochStats
from .workers import Launcher, LocalLauncher

log = logging.getLogger(__name__)


class JobManager:
    """submit / get / events / stop / lease, one instance per server (no module state)."""

    KEEP_ENDED = 4  # ended jobs remembered per session (their results hold models)

    def __init__(self, launcher: Launcher | None = None, slots: int | None = None,
                 per_session: int = 2, lease_s: float = 30.0, limits: JobLimits | None = None,
                 grace_s: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 root: Path | None = None, tick_s: float = 0.05,
                 background: bool = True) -> None:
        self.launcher = launcher or LocalLauncher()
        self.slots = slots or default_slots()
        self.per_session, self.lease_s, self.grace_s = per_session, lease_s, grace_s
        self.limits = limits or JobLimits.from_env()
        self.clock = clock
        self.root = Path(root or tempfile.mkdtemp(prefix="studio-jobs-"))
        self._jobs: dict[str, Job] = {}
        self._queue: list[Job] = []
        self._leases: dict[str, float] = {}
        self._gone: set[str] = set()   # sessions whose lease ran out, folders not yet removed
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = None
        if background:
            self._thread = threading.Thread(target=self._loop, args=(tick_s,),
                                            name="studio-jobs", daemon=True)
            self._thread.start()

    # ---- the interface pages use -------------------------------------------------------
    def submit(self, session: str, task: str, args: dict, total_epochs: int = 0,
               first_epoch: int = 0, epochs: list[EpochStats] | None = None,
               total_trials: int = 0) -> Job:
        """Queue a job for `session` and return it at once (it starts when a slot is free);
        a search gives its trials (`total_epochs` is then each trial's)."""
        with self._lock:
            self._lease(session)
            waiting = sum(j.session == session for j in self._queue)
            if waiting >= self.per_session:
                raise LimitError(f"you already have {waiting} jobs waiting for a training "
                                 "slot; wait for one to start or stop one")
            job = Job(secrets.token_urlsafe(12), session, task, args, total_epochs,
                      self.clock, first_epoch, list(epochs or []), submitted=self.clock(),
                      total_trials=total_trials)
            job.log.append(("state", JobState.QUEUED))
            self._jobs[job.id] = job
            self._queue.append(job)
            self._forget_old(session)
            self._positions()
        self._wake.set()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def events(self, job_id: str, since: int = 0) -> list[tuple]:
        """The job's state changes and epochs from position `since` on."""
        job = self._jobs.get(job_id)
        return list(job.log[since:]) if job else []

    def stop(self, job_id: str, why: str = "user") -> None:
        """Leave the queue, or ask the running job to stop (escalating if it does not)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._stop(job, why)
        self._wake.set()

    def lease(self, session: str) -> None:
        """The session's heartbeat: it keeps its jobs and its folder for lease_s more.
        Without the lock (one dict store and one set discard, atomic in CPython): every
        page run calls it, and must not wait while tick() reads a worker's events."""
        self._lease(session)

    def workdir(self, session: str) -> Path:
        """A folder private to the session (checkpoints), removed when its lease runs out."""
        folder = self.root / session
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def jobs(self, session: str) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.session == session]

    def tick(self) -> None:
        """One pass: leases, events from workers, limits and stops, starts, clean-up."""
        closing = []
        with self._lock:
            now = self.clock()
            self._expire(now)
            for step in (self._pump, self._enforce):
                for job in [j for j in self._jobs.values() if j.handle is not None]:
                    try:
                        step(job, now, closing)
                    except Exception as err:  # one job's broken worker fails that job only
                        self._broken(job, err, now, closing)
            self._start_queued(now)
            self._clean()
            self._positions()
        for handle in closing:  # reaping waits for the process: not in the manager's thread
            threading.Thread(target=handle.close, name="studio-reap", daemon=True).start()

    def close(self) -> None:
        """Kill every worker and remove every folder (server shutdown, tests)."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            for job in self._jobs.values():
                if job.handle is not None:
                    job.handle.kill()
                    job.handle.close()
                    job.handle = None
        closer = getattr(self.launcher, "close", None)
        if closer is not None:
            closer()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- inside the lock ---------------------------------------------------------------
    def _loop(self, tick_s: float) -> None:
        """The manager's thread: it starts every worker, so workers (which die with the
        thread that started them, PR_SET_PDEATHSIG) live as long as the manager."""
        prewarm = getattr(self.launcher, "prewarm", None)
        if prewarm is not None:
            prewarm()  # the first job starts without waiting for torch to load
        while not self._closed:
            try:
                self.tick()
            except Exception:  # a bug must not stop every job on the server
                log.exception("job manager tick failed")
            self._wake.wait(tick_s)
            self._wake.clear()

    def _lease(self, session: str) -> None:
        self._leases[session] = self.clock()
        self._gone.discard(session)

    def _set(self, job: Job, state: JobState, now: float | None = None) -> None:
        job.state = state
        job.log.append(("state", state))
        if state.ended:
            job.finished = self.clock() if now is None else now
            job.rows = None

    def _stop(self, job: Job, why: str) -> None:
        if job.state == JobState.QUEUED:
            self._queue.remove(job)
            self._positions()
            job.message = ("its browser session went away" if why == "expired"
                           else "stopped before it started")
            self._set(job, JobState.EXPIRED if why == "expired" else JobState.STOPPED)
        elif job.state == JobState.RUNNING:
            job.stop_reason, job.stop_at = why, self.clock()
            self._set(job, JobState.STOPPING)
            job.handle.request_stop()
        elif job.state == JobState.STOPPING and why == "expired":
            job.stop_reason = why

    def _expire(self, now: float) -> None:
        for session, seen in list(self._leases.items()):
            if now - seen > self.lease_s:
                del self._leases[session]
                self._gone.add(session)
                for job in self.jobs(session):
                    self._stop(job, "expired")

    def _pump(self, job: Job, now: float, closing: list) -> None:
        """Read every event that has arrived; end the job on its final one or its death."""
        while job.handle is not None:
            try:
                event = job.handle.poll()
            except (EOFError, OSError):
                event = ("gone", None)
            if event is None:
                if job.handle.alive():
                    return
                try:  # it may have sent its last event between poll() and alive()
                    event = job.handle.poll() or ("gone", None)
                except (EOFError, OSError):
                    event = ("gone", None)
            kind, value = event
            if kind == "epoch":
                job.epochs.append(value)
                job.rows = None
                job.log.append(("epoch", value))
            elif kind == "batch":
                job.rows = tuple(value)
            elif kind == "trial":  # a search's trial ended: the next one's epochs follow
                job.trials.append(value)
                job.epochs.clear()
                job.rows = None
                job.log.append(("trial", value))
            else:
                self._end(job, kind, value, now)
                closing.append(job.handle)
                job.handle = None

    def _end(self, job: Job, kind: str, value: object, now: float) -> None:
        """The one end state: from the final event (done / failed) or the worker's death."""
        why = job.stop_reason
        if why == "expired":
            job.message = "its browser session went away, so it was stopped"
            self._set(job, JobState.EXPIRED, now)
            return
        if why == "wall":
            job.message = (f"it ran past its wall-time limit of {self.limits.wall_s:,.0f} s "
                           "and was stopped")
        if kind == "done":
            job.result = value
            history = getattr(value, "history", None)
            stopped = why is not None and (history is None or history.stopped == "user")
            if history is not None:
                job.epochs[:] = history.epochs
            if not stopped:  # it completed before the stop took hold: nothing was cut short
                job.message = None
            self._set(job, JobState.STOPPED if stopped else JobState.FINISHED, now)
        elif kind == "failed":
            job.message = str(value)
            self._set(job, JobState.FAILED, now)
        elif why is not None:  # gone without a result after a stop
            job.message = job.message or (
                f"it did not stop within {self.grace_s:.0f} s, so it was ended by force"
                if job.escalated else "stopped before it finished an epoch")
            self._set(job, JobState.STOPPED, now)
        else:
            job.message = ("the training process ended unexpectedly "
                           f"({job.handle.exit_text()})")
            self._set(job, JobState.FAILED, now)

    def _broken(self, job: Job, err: Exception, now: float, closing: list) -> None:
        log.exception("job %s: its worker failed", job.id, exc_info=err)
        handle, job.handle = job.handle, None
        try:
            handle.kill()
        except Exception:  # already unreachable
            pass
        closing.append(handle)
        job.message = f"its worker stopped answering ({type(err).__name__}: {err})"
        self._set(job, JobState.FAILED, now)

    def _enforce(self, job: Job, now: float, closing: list) -> None:
        """Wall time for running jobs; SIGTERM then SIGKILL for stops not obeyed in time."""
        if job.state == JobState.RUNNING and now - job.started > self.limits.wall_s:
            self._stop(job, "wall")
        if job.state == JobState.STOPPING:
            waited = now - job.stop_at
            if waited > 2 * self.grace_s and job.escalated < 2:
                job.handle.kill()
                job.escalated = 2
            elif waited > self.grace_s and job.escalated < 1:
                job.handle.terminate()
                job.escalated = 1

    def _start_queued(self, now: float) -> None:
        running = sum(j.handle is not None for j in self._jobs.values())
        while self._queue and running < self.slots:
            job = self._queue.pop(0)
            try:
                job.handle = self.launcher()
                job.handle.start({"task": job.task, "args": job.args, "limits": {
                    "memory_bytes": self.limits.memory_bytes, "nice": self.limits.nice}})
            except Exception as err:  # no worker could start: the job fails, in one line
                if job.handle is not None:  # launched, but it could not take the job
                    job.handle.kill()
                    job.handle.close()
                job.handle = None
                job.message = f"no training worker could start: {type(err).__name__}: {err}"
                self._set(job, JobState.FAILED, now)
                continue
            job.started = now
            self._set(job, JobState.RUNNING, now)
            running += 1

    def _clean(self) -> None:
        for session in list(self._gone):
            mine = self.jobs(session)
            if all(j.state.ended for j in mine):
                shutil.rmtree(self.root / session, ignore_errors=True)
                for j in mine:
                    del self._jobs[j.id]
                self._gone.discard(session)

    def _forget_old(self, session: str) -> None:
        ended = [j for j in self.jobs(session) if j.state.ended]
        for j in ended[:-self.KEEP_ENDED]:
            del self._jobs[j.id]

    def _positions(self) -> None:
        for j in self._jobs.values():
            j.position = 0
        for place, j in enumerate(self._queue, 1):
            j.position = place
