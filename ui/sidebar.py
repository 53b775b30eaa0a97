"""The sidebar every page shows: dataset, model, device and the training job's status."""
from __future__ import annotations

import streamlit as st

from mlcore.device import describe_device, resolve_device
from mlcore.job import JobState

from . import state
from .failures import guarded


@st.cache_resource
def device_name() -> str:
    """The device `auto` training would use (process-wide fact, not per-user data)."""
    device = resolve_device("auto")
    return "CPU (no GPU found)" if device.type == "cpu" else describe_device(device)


def show(page_follows_job: bool = False) -> None:
    """The sidebar; `page_follows_job` when the page shows the job's progress itself (Train),
    so only one part of a page reruns every second and asks for the redraw at its end."""
    with st.sidebar:
        st.markdown("### Dataset")
        data = state.dataset()
        if data is None:
            st.caption("None yet: pick a sample or upload a table on **Data**.")
        else:
            frame = data.frame
            label = data.schema.label
            classes = data.column_counts[label][1] if not data.schema.column(label).bins \
                else len(data.schema.column(label).bins) - 1
            st.markdown(f"**{data.name}**  \n{len(frame):,} rows × {len(frame.columns)} "
                        f"columns  \nlabel **{label}**, {classes:,} classes"
                        + (f"  \ntest file: {data.test_table.name}" if data.test_table else ""))
        st.markdown("### Model")
        current = state.model()
        if current is None:
            st.caption("None yet: train one on **Train** or import one on **Export**.")
        else:
            bundle = current.bundle
            test = bundle.metrics.get("test")
            epochs = len((bundle.history or {}).get("epochs", []))
            st.markdown(f"**{bundle.architecture}** {bundle.model_config.activation}"
                        f"  \n{epochs} epochs, {current.origin}"
                        + (f"  \ntest accuracy **{test['accuracy']:.1%}**" if test else ""))
        st.markdown("### Device")
        st.markdown(device_name())
        follow_jobs(state.busy() and not page_follows_job, page_follows_job)


def follow_jobs(active: bool, on_page: bool) -> None:
    """The job line, redrawn every second while a job runs (unless the page follows it);
    every 10 s otherwise, only to renew the session's lease (a closed tab stops renewing
    it, and loses its jobs)."""

    @st.fragment(run_every=1.0 if active else state.HEARTBEAT_S)
    def follow() -> None:
        with guarded("the job status"):
            job_line(active, on_page)

    follow()


def job_line(active: bool, on_page: bool) -> None:
    """Renew the lease; redraw the app when the job ended, else show its state."""
    state.heartbeat()
    if active and not state.busy():
        st.rerun()  # it ended: every part of the page catches up
    job = state.job()
    if job is None:
        return
    st.markdown("### Training job")
    if on_page and job.active:
        st.markdown("its progress is on this page")
        return
    if job.state == JobState.QUEUED:
        st.markdown(f"waiting for a free slot (place {job.position})")
    elif job.active:
        st.progress(job.progress, text=f"{job.where} · {job.state.value}")
    elif job.state in (JobState.FAILED, JobState.EXPIRED):
        st.markdown(f"{job.state.value}: {job.message}")
    else:
        st.markdown(f"{job.state.value} after {len(job.epochs)} epochs, {job.elapsed:.1f} s")
