"""Runs page: every run of this workspace, compared side by side, re-opened, shared,
downloaded, pinned or deleted."""
import pandas as pd
import streamlit as st

from mlcore import plots
from mlcore.budget import size_text
from mlcore.errors import StudioError
from ui import workspace
from ui.display import show_table

st.title("Runs")
st.caption("Every model trained in this workspace, kept across reloads: the link in your "
           "address bar (?ws=…) is your workspace; bookmark it to come back.")

store, ws = workspace.store(), workspace.token()
found = store.list_runs(ws)
if not found:
    st.info("No runs yet: every model you train on **Train** is kept here, with its data, "
            "settings, curves and metrics.")
    st.page_link("views/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()


def title(run) -> str:
    return f"#{run.id} {run.architecture} on {run.data_name}"


table = pd.DataFrame([{
    "run": r.id, "when (UTC)": r.created.strftime("%Y-%m-%d %H:%M"), "data": r.data_name,
    "label": r.label, "network": f"{r.architecture} {r.model_config.get('activation', '')}",
    "optimizer": r.train_config.get("optimizer"), "epochs": r.epochs,
    "test accuracy": r.test_accuracy, "time (s)": r.train_seconds, "status": r.status,
    "continues": f"#{r.parent}" if r.parent else "", "pinned": r.pinned} for r in found])
show_table(table, hide_index=True, width="stretch", column_config={
    "continues": st.column_config.TextColumn(help="the run whose checkpoint this one "
                                                  "resumed from"),
    "test accuracy": st.column_config.NumberColumn(format="percent"),
    "time (s)": st.column_config.NumberColumn(format="%.1f")})
usage = store.usage(ws)
st.caption(f"{len(found)} runs, newest first · this workspace holds "
           f"{size_text(usage.bytes)} of its {size_text(usage.quota_bytes)} and {usage.runs} "
           f"of its {usage.quota_runs:,} runs (pinned runs are kept by clean-ups).")

by_id = {r.id: r for r in found}
st.subheader("Compare")
picked = st.multiselect("Runs to compare (two or more)", list(by_id), key="compare_runs",
                        default=list(by_id)[:min(2, len(by_id))],
                        format_func=lambda i: title(by_id[i]))
if len(picked) >= 2:
    full = [store.get_run(ws, i) for i in picked]
    names = {f"#{r.id}": r for r in full}
    left, right = st.columns(2)
    left.plotly_chart(plots.compare_curves_figure({n: r.history for n, r in names.items()}),
                      key="compare_curves")
    metric = right.radio("Per class", ["f1", "precision", "recall"], horizontal=True,
                         key="compare_metric")
    right.plotly_chart(plots.compare_classes_figure(
        {n: (r.metrics or {}).get("test", {}).get("per_class", []) for n, r in names.items()},
        metric), key="compare_classes")
    show_table(pd.DataFrame({n: {
        "data": r.data_name, "label": r.label, "network": r.architecture,
        "optimizer": r.train_config.get("optimizer"), "lr": r.train_config.get("lr"),
        "batch": r.train_config.get("batch_size"), "epochs": r.epochs, "seed": r.seed,
        "test accuracy": f"{r.test_accuracy:.2%}" if r.test_accuracy is not None else None,
        "train accuracy": f"{r.train_accuracy:.2%}" if r.train_accuracy is not None else None}
        for n, r in names.items()}).astype(str), width="stretch")
else:
    st.caption("Pick two or more runs to see their curves and per-class metrics side by side.")

st.subheader("One run")
pick = st.selectbox("Run", list(by_id), format_func=lambda i: title(by_id[i]),
                    key="run_actions")
run = by_id[pick]
opened, download, pin, delete = st.columns(4)
if opened.button("Open as the current model", type="primary", width="stretch"):
    try:
        note = workspace.open_run(pick)
    except StudioError as err:
        st.error(f"Could not open run #{pick}: {err}")
    else:
        st.success(f"Run #{pick} is the current model. {note}")
download.download_button("Download the bundle (.zip)", store.run_zip(ws, pick),
                         f"run-{pick}-{run.architecture}.zip", "application/zip",
                         on_click="ignore", width="stretch", icon=":material/download:")
if pin.button("Unpin" if run.pinned else "Pin (kept by clean-ups)", width="stretch"):
    store.pin_run(ws, pick, not run.pinned)
    st.rerun()
sure = delete.checkbox("Yes, delete it", key=f"sure_{pick}")
if delete.button("Delete this run", disabled=not sure, width="stretch"):
    store.delete_run(ws, pick)
    current = st.session_state.get("model")
    if current is not None and current.run_id == pick:
        current.run_id = None  # the model stays usable here; it is no longer kept
    st.rerun()
