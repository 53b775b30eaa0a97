"""Where a job runs: the handle the JobManager drives, and the local kind of worker.

A handle runs one job (mlcore.tasks payload) and is polled for its events. The manager
needs only this small interface, so a Ray actor (mlcore.ray_workers) or a fake in tests
fits the same slot. A launcher is any callable returning a fresh handle.
"""
from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Callable, Protocol


class WorkerHandle(Protocol):
    """One job's worker, as the manager sees it."""

    def start(self, payload: dict) -> None:
        """Hand over the job; return at once."""

    def poll(self) -> tuple | None:
        """The next event (kind, value) if one has fully arrived, else None; never blocks
        for long. Raises EOFError once the worker has gone and every event was read."""

    def request_stop(self) -> None:
        """Ask the job to stop after the current batch (it then sends its result)."""

    def terminate(self) -> None:
        """SIGTERM, or the nearest thing."""

    def kill(self) -> None:
        """SIGKILL, or the nearest thing."""

    def alive(self) -> bool:
        """Whether the worker may still send events."""

    def exit_text(self) -> str:
        """How it ended, in words: 'exit code 1', 'killed by signal 9'."""

    def close(self) -> None:
        """Release the connection (the process is already gone or going)."""


Launcher = Callable[[], WorkerHandle]


class LocalWorker:
    """A `python -m mlcore.worker` process that has imported torch and waits for one job."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlcore.worker", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(ours.detach())

    def start(self, payload: dict) -> None:
        """Pickle the job here, send it from a thread: a worker still loading torch reads
        a large table's arrays only when ready, and the manager must not wait for that."""
        data = pickle.dumps(payload)
        threading.Thread(target=self._send, args=(data,), name="studio-send",
                         daemon=True).start()

    def _send(self, data: bytes) -> None:
        try:
            self.conn.send_bytes(data)
        except OSError:  # the worker died first: poll() reports it
            pass

    def poll(self) -> tuple | None:
        if not self.conn.poll(0):
            return None
        return pickle.loads(self.conn.recv_bytes())  # from our own worker process

    def request_stop(self) -> None:
        try:
            self.conn.send_bytes(pickle.dumps("stop"))
        except OSError:  # it has just ended
            pass

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(number)

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_text(self) -> str:
        try:
            code = self.process.wait(timeout=0.5)  # it closed its end: it is exiting
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def close(self) -> None:
        self.conn.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class LocalLauncher:
    """Starts workers (LocalWorkers unless `make` says otherwise: RayLauncher), keeping one
    spare warm so the next job does not wait for a new Python to import torch."""

    def __init__(self, make: Callable[[], WorkerHandle] = LocalWorker) -> None:
        self._make = make
        self._spare: WorkerHandle | None = None
        self._lock = threading.Lock()

    def prewarm(self) -> None:
        with self._lock:
            if self._spare is None or not self._spare.alive():
                self._spare = self._make()

    def __call__(self) -> WorkerHandle:
        with self._lock:
            worker, self._spare = self._spare, None
        if worker is None or not worker.alive():
            worker = self._make()
        self.prewarm()
        return worker

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.kill()
            spare.close()
