"""Classifier Studio: from a table to a classifier you understand and can ship.

Run with `streamlit run app.py`. Five pages follow the classic PyTorch workflow:
Data -> Train -> Evaluate -> Predict -> Export.
"""
import streamlit as st

from ui import sidebar, state
from ui.failures import guarded

st.set_page_config(page_title="Classifier Studio", page_icon=":material/neurology:",
                   layout="wide")

PAGES = [
    st.Page("pages/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/online_prediction:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]



state.manager()  # once per server: the job manager (and a warm spare worker)
state.heartbeat()
page = st.navigation(PAGES)
with guarded("the sidebar"):
    sidebar.show()
with guarded(f"the {page.title} page"):
    page.run()
