"""One job as pages see it: its state (an enum with one end state per job), its limits,
its epochs (or trials, for a search) and its progress. Only mlcore.jobs.JobManager changes
a Job; pages and the CLI read it."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable

from .checkpoint import load_checkpoint
from .training import EpochStats
from .workers import WorkerHandle


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    EXPIRED = "expired"

    @property
    def ended(self) -> bool:
        return self in (JobState.FINISHED, JobState.FAILED, JobState.STOPPED, JobState.EXPIRED)


@dataclass(frozen=True)
class JobLimits:
    """Per job: wall time, memory it may add, CPU niceness (the server stays responsive)."""

    wall_s: float = 1800.0
    memory_bytes: int | None = 4 * 2**30
    nice: int = 10

    @classmethod
    def from_env(cls) -> JobLimits:
        """STUDIO_JOB_WALL_S (seconds) and STUDIO_JOB_MEMORY_MB (0: no limit)."""
        memory = float(os.environ.get("STUDIO_JOB_MEMORY_MB", 4096))
        return cls(float(os.environ.get("STUDIO_JOB_WALL_S", 1800)),
                   int(memory * 2**20) or None)


def default_slots() -> int:
    """STUDIO_MAX_JOBS, else one job per core but one, at least one."""
    text = os.environ.get("STUDIO_MAX_JOBS", "").strip()
    return max(1, int(text) if text else (os.cpu_count() or 2) - 1)


@dataclass(eq=False)
class Job:
    """One job as pages see it; the manager alone changes it (inside tick, stop, submit)."""

    id: str
    session: str
    task: str
    args: dict
    total_epochs: int
    clock: Callable[[], float] = field(repr=False)
    first_epoch: int = 0
    epochs: list[EpochStats] = field(default_factory=list)
    state: JobState = JobState.QUEUED
    position: int = 0                          # 1-based place in the queue while queued
    rows: tuple[int, int, int] | None = None   # (epoch, rows done, rows) inside a long epoch
    result: object | None = None               # a workflow.Run, or the overfit check's result
    message: str | None = None                 # why it failed or stopped, in one sentence
    submitted: float = 0.0
    started: float | None = None
    finished: float | None = None
    log: list[tuple] = field(default_factory=list, repr=False)  # ("state", s) / ("epoch", e)
    handle: WorkerHandle | None = field(default=None, repr=False)
    stop_reason: str | None = field(default=None, repr=False)   # user, wall, expired
    stop_at: float | None = field(default=None, repr=False)
    escalated: int = field(default=0, repr=False)              # 1 terminated, 2 killed
    total_trials: int = 0                      # a search: how many trials it may run
    trials: list = field(default_factory=list)  # a search: its finished trials' records

    @property
    def active(self) -> bool:
        return not self.state.ended

    @property
    def prepared(self):
        return self.args.get("prepared")

    @property
    def train_config(self):
        return self.args.get("train_config")

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or self.clock()) - self.started

    @property
    def progress(self) -> float:
        """Fraction of this run's epochs done, counting the rows done of the epoch under way
        (a search: of its trials, counting the epochs of the trial under way); a finished
        job is done, also when it stopped early or its search ran out of time."""
        if self.state == JobState.FINISHED:
            return 1.0
        if self.total_trials:
            last = self.epochs[-1:]
            within = min(1.0, last[0].epoch / max(1, self.total_epochs)) if last else 0.0
            return min(1.0, (len(self.trials) + within) / self.total_trials)
        total = self.total_epochs - self.first_epoch
        last, rows = self.epochs[-1:], self.rows  # read once: the manager's thread writes
        done = (last[0].epoch - self.first_epoch) if last else 0
        if rows is not None and rows[0] == done + self.first_epoch + 1:
            done += rows[1] / max(1, rows[2])
        return min(1.0, done / total) if total > 0 else float(self.state.ended)

    @property
    def where(self) -> str:
        """'epoch 3 of 10', plus the rows done of the epoch under way when it is long (a
        search: 'trial 2 of 20 · epoch 3 of 300')."""
        last, rows = self.epochs[-1:], self.rows  # read once: the manager's thread writes
        epoch = last[0].epoch if last else self.first_epoch
        text = f"epoch {epoch} of {self.total_epochs}"
        if self.total_trials:
            trial = min(len(self.trials) + (not self.state.ended), self.total_trials)
            text = f"trial {trial} of {self.total_trials} · " + text
        if self.state == JobState.RUNNING and rows is not None and rows[0] == epoch + 1:
            text += f" · rows {rows[1]:,} of {rows[2]:,} in epoch {rows[0]}"
        return text

    @property
    def eta(self) -> float | None:
        """Seconds left at the current pace, once some of this run is done."""
        progress = self.progress
        if self.state != JobState.RUNNING or progress == 0:
            return None
        return self.elapsed * (1 - progress) / progress


def resume_point(path: Path | str) -> tuple[int, list[EpochStats]]:
    """The epoch a checkpoint ends at and the epochs before it, to show while resuming."""
    saved = load_checkpoint(path)
    return int(saved["epoch"]), [EpochStats(**e) for e in saved["history"]]
