"""Classifier Studio: from a table to a classifier you understand and can ship.

Run with `streamlit run app.py`. Five pages follow the classic PyTorch workflow:
Data -> Train -> Evaluate -> Predict -> Export.
"""
import streamlit as st

from mlcore import jobs
from ui import sidebar

st.set_page_config(page_title="Classifier Studio", page_icon=":material/neurology:",
                   layout="wide")

PAGES = [
    st.Page("pages/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/online_prediction:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]



@st.cache_resource
def warm_training_worker() -> bool:
    """Once per server: start a spare worker so the first Train click starts at once."""
    jobs.prewarm()
    return True


warm_training_worker()
page = st.navigation(PAGES)
sidebar.show()
page.run()
