"""Widgets whose values survive page switches (Streamlit drops a widget's state when its
page is not shown, so each value is also kept under a plain session key)."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st


def _store() -> dict:
    return st.session_state.setdefault("settings", {})


def remember(widget: Callable, label: str, key: str, default: Any, **kwargs: Any) -> Any:
    """A value widget (number_input, slider, text_input...) that remembers its value."""
    name = f"setting_{key}"
    if name not in st.session_state:  # else the widget's own state (or fill's) holds it
        kwargs["value"] = _within(_store().get(key, default), kwargs)
    value = widget(label, key=name, **kwargs)
    _store()[key] = value
    return value


def _within(value: Any, kwargs: dict) -> Any:
    """A remembered number inside the widget's bounds: a workspace restored under other
    limits (a shorter wall time, say) would make Streamlit refuse to draw the widget."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    value = value if low is None else max(low, value)
    return value if high is None else min(high, value)


def remember_choice(label: str, key: str, options: list, default: Any,
                    widget: Callable = st.selectbox, **kwargs: Any) -> Any:
    """A selectbox (or radio) that remembers its choice."""
    name = f"setting_{key}"
    if st.session_state.get(name, options[0]) not in options:
        del st.session_state[name]  # a choice this run does not offer (a GPU gone)
    if name not in st.session_state:
        current = _store().get(key, default)
        kwargs["index"] = options.index(current) if current in options else 0
    value = widget(label, options, key=name, **kwargs)
    _store()[key] = value
    return value


def fill(values: dict[str, Any]) -> None:
    """Set remembered values from code (a recipe, in a widget's on_change callback): each
    widget's state is set too, so the browser shows the new value."""
    _store().update(values)
    for key, value in values.items():
        st.session_state[f"setting_{key}"] = value

