"""Per-browser-session state in st.session_state: the dataset, the training job and the
current model. Server-wide objects (the job manager, the bounded table cache) hold nothing a
session can reach without its own ids (a hosted demo serves many people)."""
from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit import config as st_config

from mlcore.bundle import Bundle
from mlcore.encoder import Encoder
from mlcore.errors import StudioError
from mlcore.budget import memory_budget
from mlcore.cache import BoundedCache, content_key
from mlcore.job import Job
from mlcore.jobs import JobManager
from mlcore.workers import LocalLauncher
from mlcore.metrics import Report
from mlcore.predict import Predictor
from mlcore.schema import Schema, with_bins
from mlcore.table import Limits, ReadOptions, Table, read_table
from mlcore.workflow import evaluate_bundle

# Streamlit's own limit (server.maxUploadSize, in MiB: Streamlit multiplies by 1024 * 1024),
# so the Data page's "Up to 20 MB" and the uploader's "Limit 20MB per file" agree.
log = logging.getLogger(__name__)
UPLOAD_LIMITS = Limits(max_bytes=st_config.get_option("server.maxUploadSize") * 1024 * 1024,
                       max_columns=500)


@dataclass
class DatasetState:
    """The table the user works on, its (edited) schema and split settings."""

    name: str
    table: Table
    schema: Schema
    test_table: Table | None = None
    sample: str | None = None
    scaling: str = "zscore"
    test_fraction: float = 0.2
    seed: int = 1

    encoders: dict = field(default_factory=dict, repr=False)  # (schema, scaling) -> Encoder
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:10])  # this table, this load
    source: dict = field(default_factory=dict)  # how the workspace brings it back (reload)

    @property
    def frame(self) -> pd.DataFrame:
        return self.table.frame

    @cached_property
    def column_counts(self) -> dict[str, tuple[int, int]]:
        """Missing and distinct values per column, counted once per table."""
        return {name: (int(column.isna().sum()), int(column.nunique(dropna=True)))
                for name, column in self.frame.items()}

    def encoder(self) -> Encoder:
        """The encoder fitted on the whole table for the current schema and scaling, fitted
        once per choice (pages rerun on every click; a 1M-row fit takes a second)."""
        key = (json.dumps(self.schema.to_dict()), self.scaling)
        if key not in self.encoders:
            if len(self.encoders) >= 4:
                self.encoders.pop(next(iter(self.encoders)))
            self.encoders[key] = Encoder.fit(with_bins(self.frame, self.schema), self.schema,
                                             self.scaling)
        return self.encoders[key]


@dataclass(eq=False)
class ModelState:
    """The model in use: its bundle, and when we have the rows, reports per part."""

    bundle: Bundle
    origin: str                                   # "trained here" or "imported from x.zip"
    reports: dict[str, Report] = field(default_factory=dict)
    parts: dict[str, pd.DataFrame] = field(default_factory=dict)
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:10])  # widget keys per model
    data: tuple[str, str, str] | None = None  # (table name, its load key, label) of `reports`
    run_id: int | None = None                 # its run in the workspace's store, if kept

    @cached_property
    def predictor(self) -> Predictor:
        return Predictor(self.bundle)


@st.cache_resource
def table_cache() -> BoundedCache:
    """Parsed uploads, server-wide: at most 16 tables and half the memory budget."""
    return BoundedCache(max_entries=16, max_bytes=memory_budget() // 2)


def parse_table(data: bytes, name: str, names: tuple[str, ...] | None = None,
                options: ReadOptions = ReadOptions()) -> Table:
    """Parse uploaded bytes once per distinct content, name and options."""
    return table_cache().get_or_make(
        content_key(data, name, names, options),
        lambda: read_table(data, name, names=list(names) if names else None,
                           limits=UPLOAD_LIMITS, options=options),
        lambda table: int(table.frame.memory_usage(deep=True).sum()))


@st.cache_resource
def manager() -> JobManager:
    """The server's one job manager: local workers, or Ray at STUDIO_RAY_ADDRESS; a session
    that stops heartbeating for STUDIO_LEASE_S seconds (30) loses its jobs."""
    address = os.environ.get("STUDIO_RAY_ADDRESS", "").strip()
    if address:
        from mlcore.ray_workers import RayLauncher
        launcher = RayLauncher(address)
    else:
        launcher = LocalLauncher()  # the manager's thread keeps a spare warm
    jobs = JobManager(launcher, lease_s=lease_seconds())
    atexit.register(jobs.close)  # no worker or folder outlives the server
    return jobs


HEARTBEAT_S = 10.0  # the sidebar renews the lease this often while a session is idle


def lease_seconds() -> float:
    """STUDIO_LEASE_S (default 30), at least twice the idle heartbeat: a shorter lease would
    expire live sessions between two heartbeats and drop their finished jobs."""
    asked = float(os.environ.get("STUDIO_LEASE_S", 30))
    if asked < 2 * HEARTBEAT_S:
        log.warning("STUDIO_LEASE_S=%s is under twice the %s s heartbeat; using %s s",
                    asked, HEARTBEAT_S, 2 * HEARTBEAT_S)
    return max(asked, 2 * HEARTBEAT_S)


def session_id() -> str:
    """This browser session's unguessable id (its jobs, folders and saved models)."""
    return st.session_state.setdefault("session_id", secrets.token_urlsafe(16))


def heartbeat() -> None:
    """Renew this session's lease on its jobs (every script run and every 10 s)."""
    manager().lease(session_id())


def dataset() -> DatasetState | None:
    return st.session_state.get("dataset")


def set_dataset(value: DatasetState) -> None:
    st.session_state["dataset"] = value


def job(slot: str = "job") -> Job | None:
    """The session's training job ('job') or overfit check ('check'), if any."""
    job_id = st.session_state.get(slot)
    return manager().get(job_id) if job_id else None


def submit(slot: str, task: str, args: dict, parent: int | None = None, **progress) -> Job:
    """Queue a job for this session (`parent`: the run it resumes, recorded with its
    result); LimitError when its queue is full."""
    new = manager().submit(session_id(), task, args, **progress)
    st.session_state[slot] = new.id
    st.session_state.setdefault("job_parent", {})[new.id] = parent
    return new


def run_of(job_id: str | None) -> int | None:
    """The run recorded for this session's job `job_id`, if it was the last one adopted."""
    recorded = st.session_state.get("job_run")
    return recorded[1] if recorded and recorded[0] == job_id else None


def busy() -> bool:
    """Whether this session has a job queued or running (one at a time)."""
    return any(j is not None and j.active for j in (job("job"), job("check")))


def model() -> ModelState | None:
    """The current model; adopts a finished job's result the first time it is seen."""
    current = job()
    if current is not None and current.result is not None and \
            st.session_state.get("adopted_job") != current.id:
        st.session_state["adopted_job"] = current.id
        adopted = ModelState(current.result.bundle, "trained here", current.result.reports,
                             current.prepared.parts, data=st.session_state.get("job_data"))
        from . import workspace  # it imports this module
        parent = st.session_state.get("job_parent", {}).get(current.id)
        adopted.run_id, note = workspace.record(current.result, dataset(), parent)
        note = note or workspace.record_trials(current.result, dataset())
        st.session_state["record_note"] = note
        st.session_state["job_run"] = (current.id, adopted.run_id)
        st.session_state["model"] = adopted
    return st.session_state.get("model")


def data_of(data: DatasetState) -> tuple[str, str, str]:
    """What a model's results are tied to: the table (name and load) and its label."""
    return data.name, data.key, data.schema.label


def stale_note(current: ModelState) -> str | None:
    """A sentence when the model's results came from another table or label than the one
    now on Data (so pages never pass them off as the new data's)."""
    data = dataset()
    if current.data is None or data is None or current.data == data_of(data):
        return None
    name, _, label = current.data
    now = (f"the table on Data is now **{data.name}**" if data.key != current.data[1]
           else f"the label on Data is now **{data.schema.label}**")
    return (f"These results belong to the model trained on **{name}** to predict **{label}**; "
            f"{now}. Train again to get results for it.")


def set_model(value: ModelState) -> None:
    st.session_state["model"] = value


def save_threshold(current: ModelState, threshold: float) -> ModelState:
    """Make `threshold` part of the current model (its bundle, reports and downloads);
    metrics stored in the bundle are re-measured only when they are this session's own."""
    own = current.reports if current.origin == "trained here" else None
    bundle = current.bundle.with_threshold(threshold, own)
    updated = ModelState(bundle, current.origin, {name: report.at_threshold(bundle.threshold)
                                                  for name, report in current.reports.items()},
                         current.parts, data=current.data, run_id=current.run_id)
    set_model(updated)
    return updated


def model_from_bundle(bundle: Bundle, origin: str) -> tuple[ModelState, str]:
    """A ModelState for a bundle loaded from a file, evaluated on the loaded dataset (split
    as on Data) when that table has the model's columns; with a sentence saying which."""
    data = dataset()
    if data is None:
        return ModelState(bundle, origin), ("No table is loaded, so Evaluate shows the "
                                            "metrics stored in the bundle.")
    try:
        reports, parts = evaluate_bundle(bundle, data.frame,
                                         data.test_table.frame if data.test_table else None,
                                         data.test_fraction, data.seed)
    except StudioError as err:
        return ModelState(bundle, origin), (f"The loaded table {data.name} does not fit this "
                                            f"model ({err}), so Evaluate shows the metrics "
                                            "stored in the bundle.")
    return ModelState(bundle, origin, reports, parts, data=data_of(data)), (
        f"Evaluated on the loaded table {data.name}: "
        + ", ".join(f"{name} {report.summary()}" for name, report in reports.items()) + ".")


def save_dir() -> Path:
    """Where "Save" writes bundles: this session's own folder under $STUDIO_SAVE_DIR
    (default `models` beside app.py), so no session lists or loads another's models."""
    folder = Path(os.environ.get("STUDIO_SAVE_DIR") or "models")
    folder = folder if folder.is_absolute() else Path(__file__).resolve().parent.parent / folder
    return folder / "sessions" / session_id()


def new_run_dir() -> Path:
    """A fresh folder for one run's checkpoints, private to this browser session (removed
    by the job manager when the session's lease runs out)."""
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    return manager().workdir(session_id()) / f"run-{st.session_state['runs']}"
