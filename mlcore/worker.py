"""A training worker process: `python -m mlcore.worker FD`, started by mlcore.jobs.

It talks to the server over its end of a private socket pair (file descriptor FD), pays
torch's start-up costs while it waits, runs exactly one job, streams its epochs and exits.
Being a plain module run, it never re-imports the server's main script (as multiprocessing's
spawn does). Messages are pickled bytes between our own two processes only.
"""
from __future__ import annotations

import pickle
import sys
import traceback
from multiprocessing.connection import Connection

import torch

from .errors import StudioError
from .workflow import fit


class RemoteStop:
    """A stop signal the trainer polls once per batch: set when the server sends 'stop'."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.stopped = conn, False

    def is_set(self) -> bool:
        if not self.stopped and self.conn.poll():
            self.stopped = pickle.loads(self.conn.recv_bytes()) == "stop"
        return self.stopped


def send(conn: Connection, message: tuple) -> None:
    conn.send_bytes(pickle.dumps(message))


def warm_up() -> None:
    """The first backward pass and optimizer step import and set up parts of torch
    (torch._dynamo among them) that take seconds; do it before a job is waiting."""
    weight = torch.zeros(1, requires_grad=True)
    (weight * 2).sum().backward()
    torch.optim.Adam([weight]).step()


def main(fd: int) -> None:
    conn = Connection(fd)
    warm_up()
    try:
        job = pickle.loads(conn.recv_bytes())  # keyword arguments of workflow.fit
    except EOFError:  # the server went away before giving us a job
        return
    try:
        run = fit(**job, on_epoch=lambda stats: send(conn, ("epoch", stats)),
                  on_batch=lambda *rows: send(conn, ("batch", rows)), stop=RemoteStop(conn))
        send(conn, ("done", run))
    except StudioError as err:
        send(conn, ("failed", str(err)))
    except Exception as err:  # one line for the user; the traceback goes to the server log
        traceback.print_exc()
        send(conn, ("failed", f"training failed: {type(err).__name__}: {err}"))
    conn.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
