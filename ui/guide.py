"""What a page says when the step it needs has not been done yet, with links to that step."""
from __future__ import annotations

import streamlit as st

from . import state


def no_model(what: str, while_training: str) -> None:
    """Explain what the page will show, point to the step that comes first, stop the page."""
    job = state.job()
    if job is not None and job.active:
        st.info(f"{what} {while_training}")
        st.page_link("views/train.py", label="Watch it train", icon=":material/model_training:")
    elif state.dataset() is None:
        st.info(f"{what} There is no model yet: load a table first, then train on it.")
        st.page_link("views/data.py", label="Step 1: load a table on Data", icon=":material/table:")
    else:
        st.info(f"{what} There is no model yet: train one on **{state.dataset().name}** first.")
        st.page_link("views/train.py", label="Step 2: train a model",
                     icon=":material/model_training:")
    st.page_link("views/export.py", label="Or import a saved model (.zip) on Export",
                 icon=":material/upload:")
    st.stop()


def stale(current: state.ModelState) -> None:
    """Say so when the model's results belong to another table or label than Data's."""
    note = state.stale_note(current)
    if note:
        st.warning(note, icon=":material/history:")
        st.page_link("views/train.py", label="Train on the new data",
                     icon=":material/model_training:")
