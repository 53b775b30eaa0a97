"""What bench/load_sessions.py reads off the machine and the server it starts, with no help
from the app: processes and their CPU, memory and niceness from /proc, the job manager's
session folders and checkpoints, CPU pressure, and the server started and stopped on
loopback (tests/test_browser_sessions.py uses the same probes)."""
from __future__ import annotations

import io
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAG = "STUDIO_LOAD_TAG"       # environment marker: every process a run starts inherits it
TIE_S = 0.05         # folders made closer together than this are not ordered
HZ = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---- processes, from /proc ------------------------------------------------------------
def _stat(pid: int) -> dict | None:
    """ppid, nice, CPU seconds and resident bytes of `pid`, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return {"ppid": int(fields[1]), "nice": int(fields[16]),
            "cpu_s": (int(fields[11]) + int(fields[12])) / HZ, "rss": rss,
            "zombie": fields[0] == "Z"}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def children(parent: int) -> dict[int, dict]:
    """The live (non-zombie) children of `parent`: pid -> _stat() plus cmdline."""
    out = {}
    for pid in _pids():
        info = _stat(pid)
        if info is not None and info["ppid"] == parent and not info["zombie"]:
            info["cmdline"] = _cmdline(pid)
            out[pid] = info
    return out


def workers(server: int) -> dict[int, dict]:
    """The server's `python -m mlcore.worker` children; 'busy' when it holds a job (a worker
    renices itself to the job's limit, 10, when the job arrives; the warm spare stays 0)."""
    found = {pid: info for pid, info in children(server).items()
             if "mlcore.worker" in info["cmdline"]}
    for info in found.values():
        info["busy"] = info["nice"] > 0
    return found


def alive(pid: int) -> bool:
    info = _stat(pid)
    return info is not None and not info["zombie"]


def descendants(table: dict[int, dict], root: int) -> set[int]:
    """Pids below `root` in a {pid: _stat()} table."""
    kids: dict[int, list[int]] = {}
    for pid, info in table.items():
        kids.setdefault(info["ppid"], []).append(pid)
    found, todo = set(), [root]
    while todo:
        for pid in kids.get(todo.pop(), []):
            if pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    total = sum(ticks)
    return (total - ticks[3] - ticks[4]) / HZ, total / HZ


def _made(folder: Path, seen: float) -> float:
    """When an empty folder was made (its mtime), else when it was first seen."""
    try:
        if not any(folder.iterdir()):
            return folder.stat().st_mtime
    except OSError:
        pass
    return seen


class _Opaque:
    """Whatever a checkpoint pickle holds besides plain data (tensors, arrays)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass


class _ConfigReader(pickle.Unpickler):
    """Reads a torch checkpoint's plain parts without torch: tensors and arrays come back
    as _Opaque."""

    def find_class(self, module: str, name: str):
        if module in ("builtins", "collections", "copyreg"):
            return super().find_class(module, name)
        return _Opaque

    def persistent_load(self, pid):
        return None


def run_epochs(run: Path) -> int | None:
    """The total epochs of the run whose checkpoints are in `run` (train_config.epochs in
    its first epoch-*.pt), or None while none is readable. Each session trains its own
    epoch count, so this ties a folder on the server to its page."""
    for path in sorted(run.glob("epoch-*.pt")):
        try:
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
                state = _ConfigReader(io.BytesIO(archive.read(name))).load()
            return int(state["config"]["epochs"])
        except (OSError, KeyError, StopIteration, TypeError, ValueError,
                zipfile.BadZipFile, pickle.UnpicklingError, EOFError):
            continue
    return None


def _first_write(run: Path, seen: float) -> float:
    """The earliest mtime in a run folder (its first checkpoint), else when it was seen."""
    try:
        return min([p.stat().st_mtime for p in run.iterdir()] + [run.stat().st_mtime])
    except (OSError, ValueError):
        return seen


def cpu_pressure() -> float | None:
    """Seconds, since boot, that some runnable task waited for a CPU (/proc/pressure/cpu)."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return int(line.rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


def vm_hwm(pid: int) -> int | None:
    """Peak resident bytes of `pid` (VmHWM), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def tagged(tag: str, exclude: set[int]) -> list[tuple[int, str]]:
    """Live processes whose environment holds TAG=tag (pid, cmdline), except `exclude`."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for pid in _pids():
        if pid in exclude:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        info = _stat(pid)
        if needle in environ.split(b"\0") and info is not None and not info["zombie"]:
            found.append((pid, _cmdline(pid)))
    return found


# ---- the server ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], log: Path, wait_s: float = 90.0
                 ) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free loopback port with `env` added; (process, url)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + wait_s
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"streamlit did not start within {wait_s:.0f} s; see {log}")


def stop_server(proc: subprocess.Popen, wait_s: float = 20.0) -> str:
    """SIGTERM (Streamlit then exits and the job manager's atexit clean-up runs); SIGKILL
    if it does not end in `wait_s`. Says which."""
    if proc.poll() is not None:
        return f"had already exited ({proc.returncode})"
    proc.terminate()
    try:
        proc.wait(timeout=wait_s)
        return f"exited on SIGTERM ({proc.returncode})"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"did not exit within {wait_s:.0f} s of SIGTERM: killed"


def jobs_root(tmpdir: Path) -> Path | None:
    """The job manager's root (`studio-jobs-*`) in the server's TMPDIR, once it exists."""
    found = sorted(tmpdir.glob("studio-jobs-*"))
    return found[0] if found else None


def session_folders(tmpdir: Path) -> list[Path]:
    root = jobs_root(tmpdir)
    return sorted(p for p in root.iterdir() if p.is_dir()) if root and root.exists() else []


class Sampler(threading.Thread):
    """/proc every `every` s: the server's workers (seen, got a job, gone) and, every
    `rss_every` s, the resident size of the server and of the server + its children."""

    def __init__(self, server: int, tmpdir: Path, every: float = 0.1,
                 rss_every: float = 0.5) -> None:
        super().__init__(name="proc-sampler", daemon=True)
        self.server, self.tmpdir, self.every, self.rss_every = server, tmpdir, every, rss_every
        self.folders: dict[str, dict] = {}   # session id -> first seen, its run-1 first seen
        self.pressure = [cpu_pressure(), None]
        self.workers: dict[int, dict] = {}
        self.peak_total = self.peak_server = 0
        self.rss_samples = 0
        self.cpu: dict[str, dict[int, float]] = {"server": {}, "workers": {}, "browser": {}}
        self.machine = [machine_busy(), None]   # busy and total CPU seconds, start / end
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        last_rss = 0.0
        while not self.halt.is_set():
            now = time.time()
            kids = children(self.server)
            with self.lock:
                for pid, info in kids.items():
                    if "mlcore.worker" not in info["cmdline"]:
                        continue
                    w = self.workers.setdefault(pid, {"pid": pid, "seen": now, "job": None,
                                                      "gone": None, "cpu_s": 0.0})
                    if info["nice"] > 0 and w["job"] is None:
                        w["job"] = now
                    w["cpu_s"], w["last"] = info["cpu_s"], now
                for pid, w in self.workers.items():
                    if w["gone"] is None and pid not in kids:
                        w["gone"] = now
            self._folders(now)
            if now - last_rss >= self.rss_every:
                last_rss = now
                server = _stat(self.server)
                if server is not None:
                    total = server["rss"] + sum(k["rss"] for k in kids.values())
                    self.peak_server = max(self.peak_server, server["rss"])
                    self.peak_total = max(self.peak_total, total)
                    self.rss_samples += 1
                self._cpu()
            self.halt.wait(self.every)
        self._cpu()
        self.machine[1] = machine_busy()
        self.pressure[1] = cpu_pressure()

    def _folders(self, now: float) -> None:
        """The manager makes a session's folder just before it queues the session's job
        (new_run_dir, then submit); the job's worker makes run-1 in it at its first
        checkpoint, a few epochs after the job starts. Their first sightings order the
        submits and the starts on the server's side."""
        root = jobs_root(self.tmpdir)
        try:
            entries = list(root.iterdir()) if root else []
        except OSError:
            return
        with self.lock:
            for folder in entries:
                seen = self.folders.get(folder.name)
                if seen is None:  # still empty: its mtime is the moment it was made
                    seen = self.folders[folder.name] = {
                        "session_id": folder.name, "made": _made(folder, now), "run": None}
                run = folder / "run-1"
                if seen["run"] is None and run.exists():
                    seen["run"] = _first_write(run, now)
                if seen.get("epochs") is None and seen["run"] is not None:
                    seen["epochs"] = run_epochs(run)
                seen["last"] = now

    def pressure_seconds(self) -> float | None:
        start, end = self.pressure[0], self.pressure[1] or cpu_pressure()
        return None if start is None or end is None else end - start

    def folder_orders(self) -> list[dict]:
        with self.lock:
            return sorted((dict(f) for f in self.folders.values()), key=lambda f: f["made"])

    def _cpu(self) -> None:
        """CPU seconds so far of the server, its workers and Chromium (descendants of this
        process outside the server's tree), kept per pid (a process that ended keeps its
        last figure)."""
        table = {pid: info for pid in _pids() if (info := _stat(pid)) is not None}
        server_tree = descendants(table, self.server) | {self.server}
        browser_tree = descendants(table, os.getpid()) - server_tree
        with self.lock:
            for pid in server_tree & table.keys():
                kind = "server" if pid == self.server else "workers"
                self.cpu[kind][pid] = max(self.cpu[kind].get(pid, 0.0), table[pid]["cpu_s"])
            for pid in browser_tree:
                self.cpu["browser"][pid] = max(self.cpu["browser"].get(pid, 0.0),
                                               table[pid]["cpu_s"])

    def cpu_seconds(self) -> dict[str, float]:
        with self.lock:
            out = {kind: sum(per.values()) for kind, per in self.cpu.items()}
        (busy0, total0), (busy1, total1) = self.machine[0], self.machine[1] or machine_busy()
        out["machine_busy"], out["machine_total"] = busy1 - busy0, total1 - total0
        out["others"] = out["machine_busy"] - out["server"] - out["workers"] - out["browser"]
        return out

    def job_workers(self) -> list[dict]:
        with self.lock:
            return sorted((dict(w) for w in self.workers.values() if w["job"] is not None),
                          key=lambda w: w["job"])
