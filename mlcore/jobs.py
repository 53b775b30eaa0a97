"""Training jobs for a dashboard that serves many people at once.

Each job trains in its own worker process (spawned, so one user's training neither holds the
server's GIL nor sets torch's thread count for everyone) and streams its epochs back; a
thread in the server follows it. A server-wide cap on running jobs makes further jobs wait
in a queue (a hosted demo must not train on every core for everyone).
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import load_checkpoint
from .errors import StudioError
from .model import ModelConfig
from .training import EpochStats, TrainConfig
from .workflow import Prepared, Run, fit

MAX_RUNNING = int(os.environ.get("STUDIO_MAX_JOBS", "2"))
_slots = threading.BoundedSemaphore(MAX_RUNNING)
_waiting: list["TrainingJob"] = []
_waiting_lock = threading.Lock()
_context = multiprocessing.get_context("spawn")


def _work(prepared: Prepared, model_config: ModelConfig, train_config: TrainConfig,
          checkpoint_dir: Path | None, resume: Path | None, events, stop) -> None:
    """Train and send ("epoch", stats)... then ("done", pickled run) or ("failed", message)."""
    try:
        run = fit(prepared, model_config, train_config, lambda s: events.put(("epoch", s)),
                  stop, checkpoint_dir, resume)
        # bytes, not the Run: torch would share its tensors through file descriptors that
        # vanish when this process exits
        events.put(("done", pickle.dumps(run)))
    except StudioError as err:
        events.put(("failed", str(err)))
    except Exception as err:  # one line for the user; the traceback goes to the server log
        traceback.print_exc()
        events.put(("failed", f"training failed: {type(err).__name__}: {err}"))


def _serve(inbox, events, stop) -> None:
    """Worker process body: pay torch's lazy start-up costs (the first optimizer imports
    torch._dynamo, seconds) before the job arrives; then run one job and exit."""
    weight = torch.zeros(1, requires_grad=True)
    (weight * 2).sum().backward()
    torch.optim.Adam([weight]).step()
    _work(*inbox.get(), events, stop)


class _Worker:
    """A spawned process that has imported torch and waits for exactly one job."""

    def __init__(self) -> None:
        self.inbox, self.events, self.stop = _context.Queue(), _context.Queue(), _context.Event()
        self.process = _context.Process(target=_serve, args=(self.inbox, self.events, self.stop),
                                        name="studio-worker", daemon=True)
        self.process.start()


_spare: _Worker | None = None
_spare_lock = threading.Lock()


def prewarm() -> None:
    """Start a spare worker in the background, so the next job starts without waiting
    for a new Python to import torch."""
    def make() -> None:
        global _spare
        worker = _Worker()
        with _spare_lock:
            if _spare is None:
                _spare = worker
                return
        worker.process.terminate()
    threading.Thread(target=make, name="studio-prewarm", daemon=True).start()


def _take_worker() -> _Worker:
    """The warm spare if there is one (then warm the next), else a new worker."""
    global _spare
    with _spare_lock:
        worker, _spare = _spare, None
    if worker is None or not worker.process.is_alive():
        worker = _Worker()
    prewarm()
    return worker


@dataclass(eq=False)
class TrainingJob:
    """One training run: queued, then running, then done / stopped / failed."""

    prepared: Prepared
    model_config: ModelConfig
    train_config: TrainConfig
    checkpoint_dir: Path | None = None
    resume: Path | None = None
    state: str = "new"
    epochs: list[EpochStats] = field(default_factory=list)
    run: Run | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    first_epoch: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _worker: _Worker | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        """Queue the job and return at once; it runs when a slot is free."""
        self.state = "queued"
        if self.resume is not None:
            saved = load_checkpoint(self.resume)
            self.first_epoch = int(saved["epoch"])
            self.epochs[:] = [EpochStats(**e) for e in saved["history"]]
        with _waiting_lock:
            _waiting.append(self)
        self._thread = threading.Thread(target=self._follow, name="studio-job", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the job to stop after the current batch (or to leave the queue)."""
        self._stop.set()
        if self._worker is not None:
            self._worker.stop.set()

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def queue_position(self) -> int:
        """1-based place in the queue while waiting for a slot, else 0."""
        with _waiting_lock:
            return _waiting.index(self) + 1 if self in _waiting else 0

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.perf_counter()) - self.started

    @property
    def progress(self) -> float:
        """Fraction of this run's epochs done."""
        total = self.train_config.epochs - self.first_epoch
        done = (self.epochs[-1].epoch - self.first_epoch) if self.epochs else 0
        return min(1.0, done / total) if total > 0 else 1.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current pace, once an epoch of this run has finished."""
        if self.progress == 0 or self.state != "running":
            return None
        return self.elapsed * (1 - self.progress) / self.progress

    def _follow(self) -> None:
        """Server-side thread: wait for a slot, start the worker, collect its events."""
        while not _slots.acquire(timeout=0.2):
            if self._stop.is_set():
                self._leave_queue()
                self.state = "stopped"
                return
        self._leave_queue()
        try:
            if self._stop.is_set():
                self.state = "stopped"
                return
            self.state, self.started = "running", time.perf_counter()
            self._run_worker()
        finally:
            self.finished = time.perf_counter()
            _slots.release()

    def _run_worker(self) -> None:
        self._worker = worker = _take_worker()
        if self._stop.is_set():
            worker.stop.set()
        worker.inbox.put((self.prepared, self.model_config, self.train_config,
                          self.checkpoint_dir, self.resume))
        while True:
            try:
                kind, value = worker.events.get(timeout=0.2)
            except queue.Empty:
                if not worker.process.is_alive():
                    self.error = ("the training process ended unexpectedly (exit code "
                                  f"{worker.process.exitcode})")
                    self.state = "failed"
                    break
                continue
            if kind == "epoch":
                self.epochs.append(value)
            elif kind == "done":
                self.run = value = pickle.loads(value)  # our own worker's bytes
                self.epochs[:] = value.history.epochs
                self.state = "stopped" if value.history.stopped == "user" else "done"
                break
            else:
                self.error, self.state = value, "failed"
                break
        worker.process.join(timeout=10)

    def _leave_queue(self) -> None:
        with _waiting_lock:
            if self in _waiting:
                _waiting.remove(self)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the job to end (tests and scripts; pages poll instead)."""
        if self._thread is not None:
            self._thread.join(timeout)
