"""This browser's workspace in the run store (mlcore.store): `?ws=TOKEN` in the URL brings
back the table, the schema choices, the settings, the runs and the current model after a
reload or from a bookmark. Another browser, without the token, sees none of it.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict

import streamlit as st

from mlcore.errors import StudioError
from mlcore.samples import SAMPLES
from mlcore.schema import Schema
from mlcore.store import Store
from mlcore.table import ReadOptions

from . import state

log = logging.getLogger(__name__)


@st.cache_resource
def store() -> Store:
    """The server's store: STUDIO_STORE (a SQLAlchemy URL), else the SQLite file."""
    return Store()


def token() -> str:
    """This session's workspace: the URL's ?ws= when the store knows it, else a new one
    (then put in the URL, so a reload or a bookmark comes back to it)."""
    ws = st.session_state.get("workspace")
    if ws is None:
        asked = st.query_params.get("ws")
        known = bool(asked) and store().workspace_exists(asked)
        ws = asked if known else store().create_workspace()
        st.session_state["workspace"] = ws
        if known:
            restore(ws)
    if st.query_params.get("ws") != ws:
        st.query_params["ws"] = ws
    return ws


def keep_table(name: str, data: bytes, test: tuple[str, bytes] | None, sample: str | None,
               names: tuple[str, ...] | None, options: ReadOptions) -> tuple[dict, str | None]:
    """How to bring a just-loaded table back (its bytes kept in the store unless it is a
    sample), and a sentence when the store refused them (a quota): the table is still
    loaded, only not kept."""
    if sample:
        return {"sample": sample}, None
    try:
        source = {"name": name, "hash": store().put_dataset(token(), name, data),
                  "names": list(names) if names else None, "options": asdict(options)}
        if test:
            source["test"] = [test[0], store().put_dataset(token(), test[0], test[1])]
    except StudioError as err:
        return {}, f"{err} The table is loaded but will not come back after a reload."
    return source, None


def _table(source: dict):
    """Read a kept table back: (name, train Table, test Table or None, sample key)."""
    if "sample" in source:
        sample = SAMPLES[source["sample"]]
        names = tuple(sample.columns) if sample.columns else None
        test = sample.test_path()
        return (sample.train_file,
                state.parse_table(sample.train_path().read_bytes(), sample.train_file, names),
                state.parse_table(test.read_bytes(), sample.test_file, names) if test else None,
                source["sample"])
    options = ReadOptions(**{**source["options"],
                             "na_tokens": tuple(source["options"]["na_tokens"])})
    names = tuple(source["names"]) if source.get("names") else None
    name, data = store().get_dataset(token(), source["hash"])
    table = state.parse_table(data, name, names, options)
    test = None
    if source.get("test"):
        test_name, test_data = store().get_dataset(token(), source["test"][1])
        test = state.parse_table(test_data, test_name, names or (
            None if table.has_header else tuple(table.frame.columns)), options)
    return name, table, test, None


def restore(ws: str) -> None:
    """Bring back what the workspace saved: table, schema choices, settings, model."""
    saved = store().get_state(ws)
    st.session_state["settings"] = dict(saved.get("settings") or {})
    data = saved.get("dataset")
    if not data or not data.get("source"):
        return
    try:
        name, table, test, sample = _table(data["source"])
        dataset = state.DatasetState(name, table, Schema.from_dict(data["schema"]), test,
                                     sample, data["scaling"], data["test_fraction"],
                                     data["seed"], source=data["source"])
        state.set_dataset(dataset)
        if saved.get("run") is not None:
            open_run(int(saved["run"]))
    except (StudioError, KeyError, TypeError, ValueError) as err:
        log.warning("workspace %s: could not restore (%s)", ws[:6], err)
        st.session_state["restore_note"] = (f"Your last table could not be brought back "
                                            f"({err}); load it again on Data.")


def open_run(run_id: int) -> str:
    """Make a recorded run the current model (evaluated on the loaded table when it fits);
    returns the sentence model_from_bundle gives."""
    bundle = store().run_bundle(token(), run_id)
    current, note = state.model_from_bundle(bundle, "trained here")
    current.run_id = run_id
    state.set_model(current)
    return note


def record(run, data: state.DatasetState | None,
           parent: int | None = None) -> tuple[int | None, str | None]:
    """Keep a finished run in the workspace (`parent`: the run it resumed): its id, or None
    and the store's sentence."""
    source = data.source if data is not None else {}
    try:
        run_id = store().record_run(token(), run.bundle, dataset_hash=source.get("hash"),
                                    data_name=data.name if data else "unknown",
                                    timings={"train_seconds": run.history.train_seconds},
                                    parent=parent)
    except StudioError as err:
        return None, f"{err} The model is usable here but is not kept in your runs."
    return run_id, None


def record_trials(run, data: state.DatasetState | None) -> str | None:
    """Keep a search's other finished trials as runs too, then let the job forget their
    bundles (a finished job stays in the server's memory); None, or the store's sentence."""
    source = data.source if data is not None else {}
    trials, run.trials = run.trials, []
    for done, bundle in enumerate(trials):
        try:
            store().record_run(token(), bundle, dataset_hash=source.get("hash"),
                               data_name=data.name if data else "unknown")
        except StudioError as err:
            return (f"{err} {len(trials) - done} of the search's other trials are not kept "
                    "in your runs.")
    return None


def saved_state() -> dict:
    """What a reload needs, as JSON: the table's source and choices, settings, model."""
    data, current = state.dataset(), st.session_state.get("model")
    out = {"settings": st.session_state.get("settings", {}),
           "run": getattr(current, "run_id", None)}
    if data is not None and data.source:
        out["dataset"] = {"source": data.source, "schema": data.schema.to_dict(),
                          "scaling": data.scaling, "test_fraction": data.test_fraction,
                          "seed": data.seed}
    return out


def save() -> None:
    """Write the workspace's state when it changed since the last write (end of a run)."""
    current = saved_state()
    text = json.dumps(current, sort_keys=True, default=str)
    if st.session_state.get("saved_state") == text:
        return
    try:
        store().put_state(token(), json.loads(text))
    except StudioError as err:
        log.warning("workspace %s: state not saved (%s)", token()[:6], err)
        return
    st.session_state["saved_state"] = text
