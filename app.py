"""Classifier Studio: from a table to a classifier you understand and can ship.

Run with `streamlit run app.py`. Five pages follow the classic PyTorch workflow:
Data -> Train -> Evaluate -> Predict -> Export; Runs lists every run of the workspace.
A share link (?model=TOKEN) opens a model's own read-only page instead.
"""
import sys

import streamlit as st

st.set_page_config(page_title="Classifier Studio", page_icon=":material/neurology:",
                   layout="wide")
if "ui.state" not in sys.modules:  # the server's first page: PyTorch takes seconds to load
    with st.spinner("Starting Classifier Studio: loading PyTorch and the engine (first start "
                    "only)…"):
        from ui import state
from ui import sidebar, state, workspace  # noqa: E402 (after the page config and start-up note)
from ui.failures import guarded  # noqa: E402

PAGES = [
    st.Page("views/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
    st.Page("views/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("views/predict.py", title="Predict", icon=":material/online_prediction:"),
    st.Page("views/export.py", title="Export", icon=":material/download:"),
    st.Page("views/runs.py", title="Runs", icon=":material/history:"),
]

state.manager()  # once per server: the job manager (and a warm spare worker)
state.heartbeat()
if st.query_params.get("model"):  # a share link: the model's own read-only page, nothing else
    page = st.navigation([st.Page("views/shared.py", title="Shared model")], position="hidden")
    with guarded("the shared model's page"):
        page.run()
    st.stop()
workspace.token()  # ?ws=: this browser's workspace (restores a reload)
page = st.navigation(PAGES)
with guarded("the sidebar"):
    sidebar.show(page_follows_job=page.title == "Train")
try:
    with guarded(f"the {page.title} page"):
        page.run()
finally:  # pages end with st.stop() too: the workspace is saved whatever the way out
    workspace.save()
