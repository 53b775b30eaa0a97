"""Jobs on a Ray cluster: the WorkerHandle of mlcore.workers, with the job run by a Ray actor.

The server never becomes a Ray driver itself: connecting to an address where no cluster
answers blocks for minutes, and Ray ends a driver whose cluster has been gone for a minute.
So each job gets a small local relay process (`RayWorker`, spoken to exactly as the local
worker is) that is the Ray driver: it connects with the mlcore package shipped as a
py_module, creates one actor for the job (its CPUs, and the job's memory limit as Ray's
`memory` resource), relays the actor's events and the server's stop, and turns a cluster
that cannot be reached, cannot fit the job or goes away into a failed job in one sentence.
The relay never imports torch: events cross it as the pickled bytes the actor made.

Checkpoints the job writes on its Ray worker are copied back into the job's checkpoint
folder here as they appear (and old ones removed as there), and the checkpoints already in
that folder, the file to resume from among them, travel with the job, so checkpoints and
resuming work as they do locally. `fit_on_ray` is the command line's `--ray`. This module
is the server's side; the relay process and the actor are mlcore.ray_relay.
"""
from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable

from .errors import StudioError
from .workers import LocalLauncher, LocalWorker

RELAY = "import sys; from mlcore.ray_relay import relay_main; relay_main(sys.argv[1:])"


def default_cpus() -> float:
    """CPUs per job on the cluster: STUDIO_RAY_CPUS, else 1."""
    return float(os.environ.get("STUDIO_RAY_CPUS", "").strip() or 1)


def default_memory() -> int | None:
    """The memory a job may use, as mlcore.job.JobLimits.from_env reads it: the size a
    relay's actor is made with before its job arrives (remade if the job says otherwise)."""
    return int(float(os.environ.get("STUDIO_JOB_MEMORY_MB", 4096)) * 2**20) or None


# ---- in the server: the handle and the launcher ------------------------------------------
class RayWorker(LocalWorker):
    """A local relay process running one job on the Ray cluster at `address`."""

    def __init__(self, address: str, num_cpus: float | None = None,
                 memory: int | None = None) -> None:
        self.address = address.strip()
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", RELAY, self.address, str(theirs.fileno()),
             str(num_cpus or default_cpus()), str(memory or 0)],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(ours.detach())

    def start(self, payload: dict) -> None:
        job = {"limits": payload.get("limits") or {}, "payload": pickle.dumps(payload),
               **shipped_files(payload.get("args") or {})}
        try:
            self.conn.send_bytes(pickle.dumps(job))
        except OSError:  # the relay has already ended: poll() reads why, or exit_text says
            pass

    def exit_text(self) -> str:
        text = super().exit_text()
        if text.startswith("exit code") and text != "exit code 0":
            # how Ray itself ends a driver (the relay) whose cluster has been gone a minute
            text += f"; the Ray cluster at {self.address} may have gone away"
        return text


class RayLauncher(LocalLauncher):
    """RayWorkers for the cluster at `address`, each job's actor sized `num_cpus` and
    `memory`. One spare is kept ready (joined, its actor made and torch imported) so the
    next job starts at once; while it waits it holds that much of the cluster."""

    def __init__(self, address: str, num_cpus: float | None = None,
                 memory: int | None = None) -> None:
        self.address, self.num_cpus = address.strip(), num_cpus or default_cpus()
        self.memory = memory if memory is not None else default_memory()
        super().__init__(lambda: RayWorker(self.address, self.num_cpus, self.memory))


def shipped_files(args: dict) -> dict:
    """What travels with a job besides its payload: where its checkpoints go here, the
    checkpoints already there, and the checkpoint file to resume from."""
    folder, resume = args.get("checkpoint_dir"), args.get("resume")
    files = {}
    if folder and Path(folder).is_dir():
        files = {p.name: p.read_bytes() for p in sorted(Path(folder).glob("epoch-*"))
                 if p.suffix in (".pt", ".json")}
    if resume:
        resume = Path(resume)
        resume = (resume.name, resume.read_bytes() if resume.is_file() else None)
    return {"checkpoint_dir": str(folder) if folder else None, "files": files,
            "resume": resume or None}


def fit_on_ray(address: str, args: dict, on_epoch: Callable | None = None,
               on_batch: Callable | None = None, poll_s: float = 0.05):
    """workflow.fit(**args) run on the Ray cluster at `address`: the same Run, with
    on_epoch / on_batch called here as the epochs go by; StudioError if it fails."""
    worker = RayWorker(address)
    try:
        worker.start({"task": "fit", "args": args, "limits": {}})
        while True:
            try:
                event = worker.poll()
            except (EOFError, OSError):
                raise StudioError(f"the Ray job ended without a result ({worker.exit_text()})")
            if event is None:
                time.sleep(poll_s)
            elif event[0] == "epoch" and on_epoch is not None:
                on_epoch(event[1])
            elif event[0] == "batch" and on_batch is not None:
                on_batch(*event[1])
            elif event[0] == "done":
                return event[1]
            elif event[0] == "failed":
                raise StudioError(event[1])
    finally:
        worker.kill()
        worker.close()
