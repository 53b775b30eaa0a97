"""Jobs on a Ray cluster (mlcore.ray_workers): a real Ray head on loopback, started once for
the module, and the same job giving the same model.pt bit for bit there as here; events,
stop, checkpoints copied back, and a cluster that is not there or goes away, through the
JobManager as the app uses it. Skipped only where ray is not installed and CI is unset."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

if not os.environ.get("CI"):  # in CI a missing ray fails here instead of skipping
    pytest.importorskip("ray", reason="ray is not installed: pip install -r "
                                      "requirements-cluster.txt (CI always runs these)")

import torch

from mlcore.cli import main
from mlcore.job import JobLimits, JobState
from mlcore.jobs import JobManager
from mlcore.model import ModelConfig
from mlcore.ray_workers import RayLauncher
from mlcore.samples import SAMPLES
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.training import TrainConfig
from mlcore.workflow import prepare

RAY = str(Path(sys.executable).with_name("ray"))
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray's node address: 127.0.0.1
LIMITS = JobLimits(wall_s=600, memory_bytes=2**30)
STUDENTS = SAMPLES["students"]
ARTICLES = ["--scaling", "divisor", "--hidden", "10,10", "--activation", "tanh",
            "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0", "--batch-size", "10",
            "--seed", "1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can see."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        found[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), command)
    return found


def family(temp: str) -> set[int]:
    """The processes of the Ray cluster kept in `temp` (they name it) and their children
    (workers, agents: renamed ray::..., so found by parent)."""
    table = processes()
    ours = {pid for pid, (_, command) in table.items() if temp in command}
    while True:
        more = {pid for pid, (parent, _) in table.items() if parent in ours} - ours
        if not more:
            return ours
        ours |= more


def listening(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of each TCP socket those processes listen on (Linux /proc)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                found.append((address, int(port, 16)))
    return found


def loopback(hex_address: str) -> bool:
    """127.0.0.1 as /proc/net/tcp writes it (little-endian), also IPv4-mapped in tcp6."""
    return hex_address.endswith("0100007F")


def start_head(temp: str) -> tuple[str, float]:
    port = free_port()
    began = time.monotonic()
    subprocess.run(
        [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", f"--memory={8 * 2**30}", f"--object-store-memory={256 * 2**20}",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        env={**os.environ, **LOOPBACK}, check=True, capture_output=True, timeout=120)
    return f"127.0.0.1:{port}", time.monotonic() - began


def stop_head(temp: str) -> None:
    """SIGTERM then SIGKILL exactly this cluster's processes (never `ray stop`, which ends
    every Ray on the machine); none may be left."""
    ours = family(temp)
    for number in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours:
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3  # gcs_server may sit out a SIGTERM
        while time.monotonic() < deadline and (ours & set(processes())):
            time.sleep(0.1)
    shutil.rmtree(temp, ignore_errors=True)
    assert not family(temp) and not (ours & set(processes())), "a Ray process was left"


@pytest.fixture(scope="module")
def cluster():
    """A Ray head on 127.0.0.1 (2 CPUs), its address; stopped, every process, after."""
    saved = {name: os.environ.get(name) for name in LOOPBACK}
    os.environ.update(LOOPBACK)  # for our relays, which join as Ray drivers
    temp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # short: Ray's socket paths
    try:
        address, seconds = start_head(temp)
        print(f"\nray head started in {seconds:.1f} s")
        yield address, temp
    finally:
        stop_head(temp)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def prepared():
    train = read_table(STUDENTS.train_path(), names=list(STUDENTS.columns)).frame
    test = read_table(STUDENTS.test_path(), names=list(STUDENTS.columns)).frame
    return prepare(train, infer_schema(train), test)


@pytest.fixture(scope="module")
def manager(cluster):
    jobs = JobManager(RayLauncher(cluster[0], memory=LIMITS.memory_bytes), slots=1,
                      lease_s=600, limits=LIMITS, grace_s=3)
    yield jobs
    jobs.close()


def submit(manager: JobManager, prepared, **train):
    config = TrainConfig("sgd", 0.01, 0.0, 10, **train)
    return manager.submit("s", "fit", {"prepared": prepared,
                                       "model_config": ModelConfig((10, 10), "tanh"),
                                       "train_config": config},
                          total_epochs=config.epochs)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def train_cli(out: Path, *more: str) -> list[str]:
    argv = ["train", str(STUDENTS.train_path()), "--test", str(STUDENTS.test_path()),
            *ARTICLES, "--epochs", "30", "--log-every", "5", "--checkpoint-every", "10",
            "--out", str(out), *more]
    assert main(argv) == 0
    return argv


def test_the_head_listens_on_loopback_only(cluster):
    found = listening(family(cluster[1]))
    assert found and all(loopback(address) for address, _ in found), found


def test_the_same_job_gives_the_same_model_on_ray_bit_for_bit(cluster, tmp_path, capsys):
    train_cli(tmp_path / "here")
    here = capsys.readouterr().out
    began = time.monotonic()
    train_cli(tmp_path / "ray", "--ray", cluster[0])
    there = capsys.readouterr().out
    print(f"--ray round trip (30 epochs) {time.monotonic() - began:.1f} s")

    def epochs(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("  epoch")]

    assert len(epochs(here)) == 6 and epochs(here) == epochs(there)
    assert "on the Ray cluster at " + cluster[0] in there
    for name in ["model.pt"] + [f"checkpoints/epoch-{e:05d}.pt" for e in (10, 20, 30)]:
        a = torch.load(tmp_path / "here" / name, weights_only=True)
        b = torch.load(tmp_path / "ray" / name, weights_only=True)
        a, b = (a["model"], b["model"]) if "model" in a else (a, b)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert (sorted(p.name for p in (tmp_path / "ray" / "checkpoints").iterdir())
            == sorted(p.name for p in (tmp_path / "here" / "checkpoints").iterdir()))


def test_a_manager_job_on_ray_streams_its_epochs_and_finishes(manager, prepared):
    began = time.monotonic()
    job = submit(manager, prepared, epochs=12, seed=3)
    wait_until(lambda: not job.active, 60, "the job to end")
    print(f"manager job round trip (12 epochs) {time.monotonic() - began:.1f} s")
    assert job.state == JobState.FINISHED, job.message
    log = manager.events(job.id)
    streamed = [value.epoch for kind, value in log if kind == "epoch"]
    assert streamed == list(range(1, 13))
    assert log[-1] == ("state", JobState.FINISHED) and log[1] == ("state", JobState.RUNNING)
    assert job.result.reports["test"].n == 40 and job.result.history.stopped == ""


def test_stop_on_ray_ends_the_job_as_stopped_with_what_was_learned(manager, prepared):
    job = submit(manager, prepared, epochs=100_000, seed=4)
    wait_until(lambda: len(job.epochs) >= 3 or not job.active, 60, "epochs from Ray")
    asked = time.monotonic()
    manager.stop(job.id)
    wait_until(lambda: not job.active, 10, "the stop")
    print(f"stop took {time.monotonic() - asked:.2f} s")
    assert job.state == JobState.STOPPED, job.message
    assert job.result.history.stopped == "user" and len(job.result.history.epochs) >= 3
    assert time.monotonic() - asked < 5


def test_no_cluster_at_the_address_is_a_failed_job_in_one_sentence(prepared):
    jobs = JobManager(RayLauncher(f"127.0.0.1:{free_port()}"), slots=1, lease_s=600,
                      limits=LIMITS)
    try:
        job = submit(jobs, prepared, epochs=3)
        wait_until(lambda: not job.active, 20, "the job to fail")
        assert job.state == JobState.FAILED
        assert job.message.startswith("no Ray cluster answers at 127.0.0.1:"), job.message
    finally:
        jobs.close()


def test_a_cluster_that_goes_away_fails_the_job_in_one_sentence(cluster, prepared):
    temp, jobs = tempfile.mkdtemp(prefix="rt-", dir="/tmp"), None
    try:
        address, _ = start_head(temp)
        jobs = JobManager(RayLauncher(address, memory=LIMITS.memory_bytes), slots=1,
                          lease_s=600, limits=LIMITS)
        job = submit(jobs, prepared, epochs=100_000)
        wait_until(lambda: len(job.epochs) >= 2 or not job.active, 60, "epochs from Ray")
        for pid in family(temp):
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: not job.active, 30, "the job to fail")
        print(f"failed {time.monotonic() - killed:.1f} s after the cluster was killed: "
              f"{job.message}")
        assert job.state == JobState.FAILED
        assert "Ray" in job.message and "\n" not in job.message, job.message
    finally:
        if jobs is not None:
            jobs.close()
        stop_head(temp)
