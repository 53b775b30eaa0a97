"""Per-browser-session state in st.session_state: the dataset, the training job and the
current model. Nothing per-user lives in a global cache (a hosted demo serves many people)."""
from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import streamlit as st

from mlcore.bundle import Bundle
from mlcore.encoder import Encoder
from mlcore.errors import StudioError
from mlcore.jobs import TrainingJob
from mlcore.metrics import Report
from mlcore.predict import Predictor
from mlcore.schema import Schema, with_bins
from mlcore.table import Limits, ReadOptions, Table, read_table
from mlcore.workflow import evaluate_bundle

UPLOAD_LIMITS = Limits(max_bytes=20 * 1024 * 1024, max_columns=500)


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

    @cached_property
    def predictor(self) -> Predictor:
        return Predictor(self.bundle)


@st.cache_data(max_entries=32, show_spinner=False)
def parse_table(data: bytes, name: str, names: tuple[str, ...] | None = None,
                options: ReadOptions = ReadOptions()) -> Table:
    """Parse uploaded bytes once per distinct content and options (the cache keys on both)."""
    return read_table(data, name, names=list(names) if names else None, limits=UPLOAD_LIMITS,
                      options=options)


def dataset() -> DatasetState | None:
    return st.session_state.get("dataset")


def set_dataset(value: DatasetState) -> None:
    st.session_state["dataset"] = value


def job() -> TrainingJob | None:
    return st.session_state.get("job")


def set_job(value: TrainingJob) -> None:
    st.session_state["job"] = value


def model() -> ModelState | None:
    """The current model; adopts a finished job's result the first time it is seen."""
    current = job()
    if current is not None and current.run is not None and \
            st.session_state.get("adopted_job") is not current:
        st.session_state["adopted_job"] = current
        st.session_state["model"] = ModelState(current.run.bundle, "trained here",
                                               current.run.reports, current.prepared.parts)
    return st.session_state.get("model")


def set_model(value: ModelState) -> None:
    st.session_state["model"] = value


def save_threshold(current: ModelState, threshold: float) -> ModelState:
    """Make `threshold` part of the current model (its bundle, reports and downloads);
    metrics stored in the bundle are re-measured only when they are this session's own."""
    own = current.reports if current.origin == "trained here" else None
    bundle = current.bundle.with_threshold(threshold, own)
    updated = ModelState(bundle, current.origin, {name: report.at_threshold(bundle.threshold)
                                                  for name, report in current.reports.items()},
                         current.parts)
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
    return ModelState(bundle, origin, reports, parts), (
        f"Evaluated on the loaded table {data.name}: "
        + ", ".join(f"{name} {report.summary()}" for name, report in reports.items()) + ".")


def save_dir() -> Path | None:
    """Where "Save to models/" writes bundles: $STUDIO_SAVE_DIR, default `models` beside
    app.py; None (saving off) when STUDIO_HOSTED=1, as on a shared demo server."""
    if os.environ.get("STUDIO_HOSTED", "").strip().lower() in ("1", "true", "yes"):
        return None
    folder = Path(os.environ.get("STUDIO_SAVE_DIR") or "models")
    return folder if folder.is_absolute() else Path(__file__).resolve().parent.parent / folder


def new_run_dir() -> Path:
    """A fresh folder for one run's checkpoints, private to this browser session."""
    if "workdir" not in st.session_state:
        st.session_state["workdir"] = Path(tempfile.mkdtemp(prefix="studio-"))
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    return st.session_state["workdir"] / f"run-{st.session_state['runs']}"
