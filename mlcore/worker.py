"""A training worker process: `python -m mlcore.worker FD`, started by mlcore.workers.

It talks to the server over its end of a private socket pair (file descriptor FD), pays
torch's start-up costs while it waits, runs exactly one job (mlcore.tasks) under the job's
limits, streams its events and exits. It dies with the server: the kernel kills it when
its parent goes (PR_SET_PDEATHSIG), and a closed socket ends it too. Being a plain module
run, it never re-imports the server's main script (as multiprocessing's spawn does).
Messages are pickled bytes between our own two processes only.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import resource
import signal
import sys
from multiprocessing.connection import Connection

import torch

from .tasks import run_task

PR_SET_PDEATHSIG = 1


class RemoteStop:
    """A stop signal the trainer polls once per batch: set when the server sends 'stop'
    (or goes away)."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.stopped = conn, False

    def is_set(self) -> bool:
        if not self.stopped and self.conn.poll():
            try:
                self.stopped = pickle.loads(self.conn.recv_bytes()) == "stop"
            except (EOFError, OSError):  # the server is gone: nobody wants the result
                os._exit(0)
        return self.stopped


def send(conn: Connection, message: tuple) -> None:
    conn.send_bytes(pickle.dumps(message))


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the server process ends (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the closed socket still ends us
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)


def apply_limits(limits: dict) -> None:
    """Lower our CPU priority below the server's (every thread: Linux nices threads one by
    one) and cap the memory this job may add. Not the cap with a GPU: CUDA reserves a vast
    address space up front, so RLIMIT_AS would refuse it."""
    if limits.get("nice"):
        for task in os.listdir("/proc/self/task"):
            tid = int(task)
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid)
                           + int(limits["nice"]))
    if limits.get("memory_bytes") and not torch.cuda.is_available():
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        cap = mapped + int(limits["memory_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def warm_up() -> None:
    """The first backward pass and optimizer step import and set up parts of torch
    (torch._dynamo among them) that take seconds; do it before a job is waiting."""
    weight = torch.zeros(1, requires_grad=True)
    (weight * 2).sum().backward()
    torch.optim.Adam([weight]).step()


def main(fd: int) -> None:
    die_with_parent()
    conn = Connection(fd)
    warm_up()
    try:
        payload = pickle.loads(conn.recv_bytes())  # see mlcore.tasks
    except EOFError:  # the server went away before giving us a job
        return
    apply_limits(payload.get("limits") or {})
    final = run_task(payload, lambda event: send(conn, event), RemoteStop(conn))
    try:
        send(conn, final)
    except (BrokenPipeError, OSError):  # the server stopped listening
        pass
    conn.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
