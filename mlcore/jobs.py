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
    """Worker process: train and send ("epoch", stats)... then ("done", run) or ("failed", msg)."""
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
    _worker_stop: object = field(default_factory=_context.Event, repr=False)
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
        self._worker_stop.set()

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
        events = _context.Queue()
        worker = _context.Process(target=_work, daemon=True, args=(
            self.prepared, self.model_config, self.train_config, self.checkpoint_dir,
            self.resume, events, self._worker_stop))
        worker.start()
        while True:
            try:
                kind, value = events.get(timeout=0.2)
            except queue.Empty:
                if not worker.is_alive():
                    self.error = f"the training process ended unexpectedly (exit code " \
                                 f"{worker.exitcode})"
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
        worker.join(timeout=10)

    def _leave_queue(self) -> None:
        with _waiting_lock:
            if self in _waiting:
                _waiting.remove(self)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the job to end (tests and scripts; pages poll instead)."""
        if self._thread is not None:
            self._thread.join(timeout)
