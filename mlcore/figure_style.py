"""The look every figure shares: the template, the height, one colour per class (the same
in every figure, so a class is recognisable across pages), the title and margins, and the
empty figure drawn when there is nothing to show. Plotly only."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

TEMPLATE = "plotly_white"
HEIGHT = 380
#: Fixed qualitative palette: class ``i`` always gets ``CLASS_COLORS[i % 10]``.
CLASS_COLORS: tuple[str, ...] = (
    "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A",
    "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52",
)
TRAIN_COLOR = "#2A3F5F"
EVAL_COLOR = "#EF553B"
MUTED_COLOR = "#C8CDD6"
PERCENT_AXIS = dict(range=[0, 1.02], tickformat=".0%")


def class_color(index: int) -> str:
    """Colour of class ``index``; the same in every figure so classes are recognisable."""
    return CLASS_COLORS[int(index) % len(CLASS_COLORS)]


def lighten(hex_color: str, amount: float = 0.6) -> str:
    """Blend a ``#RRGGBB`` colour towards white (amount 0 = unchanged, 1 = white)."""
    h = hex_color.lstrip("#")
    rgb = [int(h[i:i + 2], 16) for i in (0, 2, 4)]
    r, g, b = (round(c + (255 - c) * amount) for c in rgb)
    return f"rgb({r},{g},{b})"


def style(fig: go.Figure, title: str, height: int = HEIGHT, **layout: Any) -> go.Figure:
    """Apply the shared look (template, title, height, margins) to ``fig``."""
    base: dict[str, Any] = dict(
        template=TEMPLATE,
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=16)),
        height=height,
        margin=dict(l=60, r=20, t=60, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0),
    )
    fig.update_layout(**{**base, **layout})
    return fig


def empty(title: str, message: str, height: int = HEIGHT) -> go.Figure:
    """A valid, empty figure with a centred note (used when there is nothing to draw)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, font=dict(size=14, color="#888"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, title, height)
