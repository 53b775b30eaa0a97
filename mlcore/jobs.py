"""Training in a background thread, for a dashboard serving many people at once.

Each job owns its stop signal and live history; a process-wide cap on running jobs makes
further jobs wait in a queue (a hosted demo must not train on every core for everyone).
"""
from __future__ import annotations

import os
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
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        """Queue the job and return at once; it runs when a slot is free."""
        self.state = "queued"
        with _waiting_lock:
            _waiting.append(self)
        self._thread = threading.Thread(target=self._main, name="studio-train", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the job to stop after the current batch (or leave the queue)."""
        self._stop.set()

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
        """Seconds left at the current pace, once an epoch has finished."""
        if not self.epochs or self.progress == 0 or self.state != "running":
            return None
        return self.elapsed * (1 - self.progress) / self.progress

    def _main(self) -> None:
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
            if self.resume is not None:
                saved = load_checkpoint(self.resume)
                self.first_epoch = int(saved["epoch"])
                self.epochs[:] = [EpochStats(**e) for e in saved["history"]]
            self.run = fit(self.prepared, self.model_config, self.train_config,
                           self.epochs.append, self._stop, self.checkpoint_dir, self.resume)
            self.epochs[:] = self.run.history.epochs
            self.state = "stopped" if self.run.history.stopped == "user" else "done"
        except StudioError as err:
            self.error, self.state = str(err), "failed"
        except Exception as err:  # keep the server alive; show one line, log the rest
            traceback.print_exc()
            self.error, self.state = f"training failed: {type(err).__name__}: {err}", "failed"
        finally:
            self.finished = time.perf_counter()
            _slots.release()

    def _leave_queue(self) -> None:
        with _waiting_lock:
            if self in _waiting:
                _waiting.remove(self)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread (tests and the CLI; pages poll instead)."""
        if self._thread is not None:
            self._thread.join(timeout)
