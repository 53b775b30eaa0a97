"""Widgets whose values survive page switches (Streamlit drops a widget's state when its
page is not shown, so each value is also kept under a plain session key)."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st


def _store() -> dict:
    return st.session_state.setdefault("settings", {})


def remember(widget: Callable, label: str, key: str, default: Any, **kwargs: Any) -> Any:
    """A value widget (number_input, slider, text_input...) that remembers its value."""
    value = widget(label, value=_store().get(key, default), key=f"setting_{key}", **kwargs)
    _store()[key] = value
    return value


def remember_choice(label: str, key: str, options: list, default: Any, **kwargs: Any) -> Any:
    """A selectbox that remembers its choice."""
    current = _store().get(key, default)
    index = options.index(current) if current in options else 0
    value = st.selectbox(label, options, index=index, key=f"setting_{key}", **kwargs)
    _store()[key] = value
    return value
