"""The Share box (Evaluate and Export): read-only links to the current model, revocable,
with an optional expiry."""
from __future__ import annotations

import os
from urllib.parse import urlsplit

import streamlit as st

from mlcore.errors import StudioError

from . import state, workspace

EXPIRY = {None: "never expires", 1: "expires in 1 day", 7: "expires in 7 days",
          30: "expires in 30 days"}


def base_url() -> str:
    """The address people reach this app at: STUDIO_BASE_URL, else this page's own."""
    configured = os.environ.get("STUDIO_BASE_URL", "").strip()
    if configured:
        return configured.rstrip("/") + "/"
    parts = urlsplit(st.context.url or "http://localhost:8501/")
    return f"{parts.scheme}://{parts.netloc}/"


def link(token: str) -> str:
    return f"{base_url()}?model={token}"


def share_box(current: state.ModelState, key: str) -> None:
    """Create, list and revoke the current model's share links."""
    st.subheader("Share")
    if current.run_id is None:
        st.caption("Models trained here (and kept in your runs) can be shared by a link; "
                   "this one is not in your runs. Train it here, or open a run on Runs.")
        return
    store, ws = workspace.store(), workspace.token()
    st.caption("A read-only link anyone can open: the model card, a Predict form, batch "
               "predict and the downloads. It never shows your training table.")
    days, button = st.columns([2, 1], vertical_alignment="bottom")
    expiry = days.selectbox("The link", list(EXPIRY), format_func=EXPIRY.get,
                            key=f"share_expiry_{key}")
    if button.button("Share", icon=":material/share:", width="stretch", key=f"share_{key}"):
        try:
            store.share(ws, current.run_id, expiry)
        except StudioError as err:
            st.error(str(err))
    now = store.clock()
    for row in store.shares(ws, current.run_id):
        if not row.active(now):
            continue
        shown, revoke = st.columns([5, 1], vertical_alignment="center")
        shown.code(link(row.token), language=None)
        if revoke.button("Revoke", key=f"revoke_{key}_{row.token[:8]}", width="stretch"):
            store.revoke(ws, row.token)
            st.rerun()
