"""Unexpected errors on a page: logged with an id, shown as one sentence, never a traceback.

STUDIO_DEBUG=1 lets them through instead (tests and development want the traceback).
"""
from __future__ import annotations

import logging
import os
import secrets
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

log = logging.getLogger("classifier_studio")


@contextmanager
def guarded(where: str) -> Iterator[None]:
    """Run a page (or a fragment) so that a bug in it costs one sentence, not the session:
    the table and the model in session state stay as they were."""
    try:
        yield
    except Exception as err:  # Streamlit's stop/rerun are BaseExceptions: they pass
        if os.environ.get("STUDIO_DEBUG", "").strip() in ("1", "true", "yes"):
            raise
        ident = secrets.token_hex(4)
        log.error("error %s on %s", ident, where, exc_info=err)
        st.error(f"Something went wrong on {where} (error {ident}, logged on the server). "
                 "Your table and model are kept: try again, or go back a step.",
                 icon=":material/error:")
