"""Training jobs for a dashboard that serves many people at once.

Each job trains in its own worker process (`python -m mlcore.worker`, so one user's training
neither holds the server's GIL nor sets torch's thread count for everyone) and streams its
epochs back; a thread in the server follows it. A spare worker is kept warm. A server-wide cap on running jobs makes further jobs wait
in a queue (a hosted demo must not train on every core for everyone).
"""
from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from .checkpoint import load_checkpoint
from .model import ModelConfig
from .training import EpochStats, TrainConfig
from .workflow import Prepared, Run

MAX_RUNNING = int(os.environ.get("STUDIO_MAX_JOBS", "2"))
_slots = threading.BoundedSemaphore(MAX_RUNNING)
_waiting: list["TrainingJob"] = []
_waiting_lock = threading.Lock()


class _Worker:
    """A `python -m mlcore.worker` process that has imported torch and waits for one job."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlcore.worker", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(ours.detach())

    def send(self, message: object) -> None:
        self.conn.send_bytes(pickle.dumps(message))

    def receive(self, timeout: float) -> tuple | None:
        """The next message, or None when none came within `timeout` seconds."""
        if not self.conn.poll(timeout):
            return None
        return pickle.loads(self.conn.recv_bytes())  # from our own worker process

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


_spare: _Worker | None = None
_spare_lock = threading.Lock()


def prewarm() -> None:
    """Start a spare worker now, so the next job does not wait for a new Python to
    import torch."""
    global _spare
    with _spare_lock:
        if _spare is None or not _spare.alive:
            _spare = _Worker()


def _take_worker() -> _Worker:
    """The warm spare if there is one (then start the next spare), else a new worker."""
    global _spare
    with _spare_lock:
        worker, _spare = _spare, None
    if worker is None or not worker.alive:
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
    initial_state: dict | None = None  # weights to start from (continuing a saved model)
    state: str = "new"
    epochs: list[EpochStats] = field(default_factory=list)
    run: Run | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    first_epoch: int = 0
    rows: tuple[int, int, int] | None = None  # (epoch, rows done, rows) inside a long epoch
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
        if self._worker is not None and self._worker.alive:
            try:
                self._worker.send("stop")
            except OSError:  # it has just finished
                pass

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
        """Fraction of this run's epochs done, counting the rows done of the epoch under way."""
        total = self.train_config.epochs - self.first_epoch
        done = (self.epochs[-1].epoch - self.first_epoch) if self.epochs else 0
        if self.rows is not None and self.rows[0] == done + self.first_epoch + 1:
            done += self.rows[1] / max(1, self.rows[2])
        return min(1.0, done / total) if total > 0 else 1.0

    @property
    def where(self) -> str:
        """'epoch 3 of 10', plus the rows done of the epoch under way when it is long."""
        epoch = self.epochs[-1].epoch if self.epochs else self.first_epoch
        text = f"epoch {epoch} of {self.train_config.epochs}"
        if self.state == "running" and self.rows is not None and self.rows[0] == epoch + 1:
            text += f" · rows {self.rows[1]:,} of {self.rows[2]:,} in epoch {self.rows[0]}"
        return text

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
            self.finished = self.finished or time.perf_counter()
            _slots.release()

    def _run_worker(self) -> None:
        self._worker = worker = _take_worker()
        worker.send({"prepared": self.prepared, "model_config": self.model_config,
                     "train_config": self.train_config, "checkpoint_dir": self.checkpoint_dir,
                     "resume": self.resume, "initial_state": self.initial_state})
        if self._stop.is_set():
            worker.send("stop")
        while True:
            try:
                message = worker.receive(timeout=0.2)
            except (EOFError, OSError):
                message = None
            if message is None:
                if not worker.alive:
                    self.error = ("the training process ended unexpectedly (exit code "
                                  f"{worker.process.returncode})")
                    self.state = "failed"
                    break
                continue
            kind, value = message
            if kind == "batch":
                self.rows = value
                continue
            if kind != "epoch":
                self.finished = time.perf_counter()
            if kind == "epoch":
                self.epochs.append(value)
            elif kind == "done":
                self.run = value
                self.epochs[:] = value.history.epochs
                self.state = "stopped" if value.history.stopped == "user" else "done"
                break
            else:
                self.error, self.state = value, "failed"
                break
        worker.conn.close()
        worker.process.wait(timeout=30)

    def _leave_queue(self) -> None:
        with _waiting_lock:
            if self in _waiting:
                _waiting.remove(self)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the job to end (tests and scripts; pages poll instead)."""
        if self._thread is not None:
            self._thread.join(timeout)
