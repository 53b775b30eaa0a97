"""Classifier Studio: from a table to a classifier you understand and can ship.

Run with `streamlit run app.py`. Five pages follow the classic PyTorch workflow:
Data -> Train -> Evaluate -> Predict -> Export.
"""
import sys

import streamlit as st

st.set_page_config(page_title="Classifier Studio", page_icon=":material/neurology:",
                   layout="wide")
if "ui.state" not in sys.modules:  # the server's first page: PyTorch takes seconds to load
    with st.spinner("Starting Classifier Studio: loading PyTorch and the engine (first start "
                    "only)…"):
        from ui import state
from ui import sidebar, state  # noqa: E402 (after the page config and the start-up note)
from ui.failures import guarded  # noqa: E402

PAGES = [
    st.Page("views/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
    st.Page("views/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("views/predict.py", title="Predict", icon=":material/online_prediction:"),
    st.Page("views/export.py", title="Export", icon=":material/download:"),
]

state.manager()  # once per server: the job manager (and a warm spare worker)
state.heartbeat()
page = st.navigation(PAGES)
with guarded("the sidebar"):
    sidebar.show()
with guarded(f"the {page.title} page"):
    page.run()
