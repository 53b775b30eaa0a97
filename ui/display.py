"""How tables are drawn on every page: one look for missing values, every column
reachable and named in full on hover (wide uploads have hundreds)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

MISSING_SHOWN = "NA"  # what an empty cell looks like in every table the pages draw


def show_table(frame: pd.DataFrame, container=st, column_config: dict | None = None,
               placeholder: str = MISSING_SHOWN, **kwargs) -> None:
    """st.dataframe with missing cells as MISSING_SHOWN and each header's full name (and
    position, for wide tables) as its tooltip; long names get a medium width (the header
    is cut, the tooltip is not). `column_config` entries take precedence."""
    wide = len(frame.columns) > 12
    config = {str(name): st.column_config.Column(
        help=f"{name}" + (f" (column {i + 1} of {len(frame.columns)})" if wide else ""),
        width="medium" if len(str(name)) > 24 else None)
        for i, name in enumerate(frame.columns)}
    config.update(column_config or {})
    container.dataframe(frame, placeholder=placeholder, column_config=config, **kwargs)
    if wide:
        container.caption(f"{len(frame.columns)} columns: scroll sideways to reach them all; "
                          "hover a header for its full name.")
