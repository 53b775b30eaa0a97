"""The Ray side of mlcore.ray_workers: the relay process the server starts for each job
(`python -c RELAY ADDRESS FD CPUS MEMORY`: the Ray driver, which never imports torch) and
the actor it creates on the cluster to run the job, with the mirror that copies the job's
checkpoints back as they appear."""
from __future__ import annotations

import ctypes
import logging
import os
import pickle
import shutil
import signal
import socket
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable

from .budget import size_text

PACKAGE = Path(__file__).resolve().parent      # shipped to the cluster as a py_module
CONNECT_S = 60.0   # ray.init must succeed within this
LOST_S = 10.0      # the cluster's address not answering this long ends the job


# ---- on the cluster: the actor that runs the job -----------------------------------------
class JobActor:
    """One job in a dedicated Ray worker process (killed after the job). `run` blocks for
    the job; `events` (long-polled by the relay) and `stop` run beside it (a threaded
    actor). Events are pickled here, so the relay passes them on without unpickling."""

    def __init__(self, num_cpus: float) -> None:
        self.num_cpus, self.broken = num_cpus, None
        try:
            from .worker import warm_up  # torch and its first backward, before the job
            warm_up()
        except Exception as err:  # torch missing on this machine, ...: run() says so
            self.broken = err
        self._items: list[tuple] = []
        self._ready = threading.Condition()
        self._stop = threading.Event()

    def events(self, wait_s: float) -> list[tuple]:
        with self._ready:
            self._ready.wait_for(lambda: self._items, timeout=wait_s)
            items, self._items = self._items, []
        return items

    def stop(self) -> None:
        self._stop.set()

    def run(self, job: dict) -> None:
        try:
            final = self._run(job)
        except Exception as err:  # the job could not even start here (torch missing, ...)
            final = ("failed", f"the job could not start on its Ray worker: "
                               f"{type(err).__name__}: {err}")
        self._put(("final", pickle.dumps(final)))

    def _put(self, item: tuple) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify_all()

    def _run(self, job: dict) -> tuple:
        if self.broken is not None:
            raise self.broken
        import torch

        from .tasks import run_task
        from .worker import apply_limits

        payload = pickle.loads(job["payload"])  # from our own server, through our relay
        args, folder = payload["args"], Path(tempfile.mkdtemp(prefix="studio-ray-job-"))
        mirror = None
        if args.get("checkpoint_dir"):
            mirror = Mirror(folder / "checkpoints", job["files"], self._put)
            args["checkpoint_dir"] = mirror.folder
        if job.get("resume"):
            name, data = job["resume"]
            args["resume"] = folder / "resume" / name
            if data is not None:
                args["resume"].parent.mkdir()
                args["resume"].write_bytes(data)
        config = args.get("train_config")
        if config is None or not config.threads:  # training.train sets it otherwise
            torch.set_num_threads(max(1, int(self.num_cpus)))
        apply_limits(payload.get("limits") or {})

        def emit(event: tuple) -> None:
            if mirror is not None and event[0] == "epoch":  # its checkpoint is written
                mirror.sync()
            self._put(("event", pickle.dumps(event)))

        try:
            return run_task(payload, emit, self._stop)
        finally:
            if mirror is not None:
                mirror.sync()
            shutil.rmtree(folder, ignore_errors=True)


class Mirror:
    """The checkpoint folder on the Ray worker, reported as ("file", name, bytes) and
    ("unlink", name) items whenever it changes, so the relay keeps the job's real folder
    the same."""

    def __init__(self, folder: Path, files: dict[str, bytes], put: Callable) -> None:
        self.folder, self.put = folder, put
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / Path(name).name).write_bytes(data)
        self.seen = self._stamps()

    def _stamps(self) -> dict[str, tuple]:
        return {p.name: (p.stat().st_mtime_ns, p.stat().st_size)
                for p in self.folder.glob("epoch-*") if p.suffix in (".pt", ".json")}

    def sync(self) -> None:
        now = self._stamps()
        for name in sorted(now, key=lambda n: (n.endswith(".json"), n)):  # .pt first
            if self.seen.get(name) != now[name]:
                self.put(("file", name, (self.folder / name).read_bytes()))
        for name in sorted(self.seen.keys() - now.keys()):
            self.put(("unlink", name))
        self.seen = now


# ---- the relay process: `python -c RELAY ADDRESS FD CPUS MEMORY` -------------------------
class Relay:
    """Between the server (a socket pair) and the job's actor on the cluster."""

    def __init__(self, conn: Connection, address: str) -> None:
        self.conn, self.address = conn, address
        self.actor, self.size = None, (1.0, None)
        self.connected = False
        self.checkpoint_dir: Path | None = None
        self._lock = threading.Lock()
        self._ended = False

    def send(self, data: bytes) -> None:
        with self._lock:
            if not self._ended:
                self.conn.send_bytes(data)

    def finish(self, final: tuple | bytes) -> None:
        """Send the one final event (or the actor's pickled one) and end (any thread)."""
        with self._lock:
            if not self._ended:
                self._ended = True
                try:
                    self.conn.send_bytes(final if isinstance(final, bytes)
                                         else pickle.dumps(final))
                except OSError:
                    pass
        self.end()

    def end(self, *_) -> None:
        """Remove the actor (its process goes with it) and exit; a SIGTERM lands here."""
        if self.actor is not None:
            try:
                import ray
                ray.kill(self.actor, no_restart=True)
            except Exception:
                pass
        os._exit(0)

    def watch(self, host: str, port: int) -> None:
        """Fail the job in words when the cluster's address stops answering (before Ray
        ends this process) or when joining it takes too long."""
        began = answered = time.monotonic()
        while True:
            try:
                socket.create_connection((host, port), timeout=2).close()
                answered = time.monotonic()
            except OSError:
                pass
            now = time.monotonic()
            if not self.connected and now - answered > 3:
                self.finish(("failed", f"no Ray cluster answers at {self.address}"))
            elif not self.connected and now - began > CONNECT_S:
                self.finish(("failed", f"the Ray cluster at {self.address} did not accept "
                                       f"a connection within {CONNECT_S:.0f} s"))
            elif now - answered > LOST_S:
                self.finish(("failed", f"the Ray cluster at {self.address} stopped "
                                       f"answering for {LOST_S:.0f} s, so the job was lost"))
            time.sleep(1)

    def connect(self) -> None:
        import ray

        try:
            ray.init(address=self.address, logging_level=logging.WARNING,
                     runtime_env={"py_modules": [str(PACKAGE)], "excludes": ["__pycache__"]})
        except Exception as err:  # a version mismatch, a bad address, ...
            self.finish(("failed", f"could not join the Ray cluster at {self.address}: "
                                   f"{first_line(err)}"))
        self.connected = True

    def prepare(self, num_cpus: float, memory: int | None) -> None:
        """Create the job's actor (it imports torch while the job is on its way), sized
        `num_cpus` and `memory` (Ray's logical memory resource: the job's limit)."""
        import ray

        problem = unfit(ray.nodes(), num_cpus, memory)
        if problem:
            self.finish(("failed", f"the Ray cluster at {self.address} {problem}"))
        options = {"num_cpus": num_cpus, "max_concurrency": 4, "max_restarts": 0}
        if memory:
            options["memory"] = int(memory)
        self.actor = ray.remote(JobActor).options(**options).remote(num_cpus)
        self.size = (num_cpus, memory)

    def run(self, job: dict) -> None:
        import ray

        memory = job["limits"].get("memory_bytes") or None
        if memory != self.size[1]:  # sized for another limit: make the right one
            ray.kill(self.actor, no_restart=True)
            self.prepare(self.size[0], memory)
        self.checkpoint_dir = Path(job["checkpoint_dir"]) if job["checkpoint_dir"] else None
        self.actor.run.remote({k: job[k] for k in ("payload", "files", "resume")})
        pending, misses = None, 0
        while True:
            self._forward_stop()
            if pending is None:
                pending = self.actor.events.remote(0.5)
            ready, _ = ray.wait([pending], timeout=0.5)
            if not ready:
                continue
            try:
                items = ray.get(pending)
            except ray.exceptions.ActorUnavailableError as err:  # a passing hiccup?
                pending, misses = None, misses + 1
                if misses >= 3:
                    self.finish(("failed", died_text(err)))
                time.sleep(0.5)
                continue
            except ray.exceptions.RayError as err:
                self.finish(("failed", died_text(err)))
            misses = 0
            pending = None
            for item in items:
                self._deliver(item)

    def _forward_stop(self) -> None:
        try:
            if not self.conn.poll(0):
                return
            message = pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError):  # the server is gone: nobody wants the result
            self.end()
        if message == "stop":
            self.actor.stop.remote()

    def _deliver(self, item: tuple) -> None:
        kind = item[0]
        if kind == "event":
            self.send(item[1])
        elif kind == "final":
            self.finish(item[1])
        elif self.checkpoint_dir is not None:
            path = self.checkpoint_dir / Path(item[1]).name
            if kind == "file":
                path.parent.mkdir(parents=True, exist_ok=True)
                part = path.with_name(path.name + ".part")
                part.write_bytes(item[2])
                part.replace(path)
            elif kind == "unlink":
                path.unlink(missing_ok=True)


def unfit(nodes: list[dict], num_cpus: float, memory: int | None) -> str | None:
    """Why no live node of the cluster can take a job of this size, or None."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive")]
    if any(r.get("CPU", 0) >= num_cpus and (not memory or r.get("memory", 0) >= memory)
           for r in alive):
        return None
    need = f"{num_cpus:g} CPUs" + (f" and {size_text(memory)} of memory" if memory else "")
    return (f"has no machine with {need} for a job (STUDIO_RAY_CPUS and "
            "STUDIO_JOB_MEMORY_MB set a job's size)")


def died_text(err: BaseException) -> str:
    """A Ray error on the job's actor, in one sentence."""
    import ray

    if isinstance(err, ray.exceptions.RuntimeEnvSetupError):
        return f"the Ray cluster could not set up the job's Python: {first_line(err)}"
    if isinstance(err, ray.exceptions.ActorUnavailableError):
        return ("the Ray worker running the job stopped answering; its machine or the "
                "cluster went away")
    if "memory" in str(err).lower():
        return "Ray ended the worker running the job because its machine ran out of memory"
    return (f"the Ray worker running the job died ({type(err).__name__}); its machine may "
            "have gone away")


def first_line(err: BaseException, width: int = 200) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= width else text[:width - 3] + "..."


def die_with_parent() -> None:
    """SIGKILL this relay when the server ends (Linux; as mlcore.worker does, without
    importing torch)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os._exit(0)


def relay_main(argv: list[str]) -> None:
    address, fd = argv[0], int(argv[1])
    num_cpus, memory = float(argv[2]), int(argv[3]) or None
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is for the command that started us
    relay = Relay(Connection(fd), address)
    signal.signal(signal.SIGTERM, relay.end)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        relay.finish(("failed", f"a Ray address is host:port, like 10.0.0.5:6379 "
                                f"(got '{address}')"))
    threading.Thread(target=relay.watch, args=(host, int(port)), daemon=True).start()
    relay.connect()
    signal.signal(signal.SIGTERM, relay.end)  # again: Ray sets its own in connecting
    relay.prepare(num_cpus, memory)
    try:
        job = pickle.loads(relay.conn.recv_bytes())  # from our own server
    except (EOFError, OSError):  # the server went away before giving us a job
        relay.end()
    relay.run(job)
