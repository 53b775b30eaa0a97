"""Figures that explain a model: one prediction's probabilities and what moved it, the
columns it relies on (permutation importance) and its decision regions over two features.
Plain data in, a Plotly figure out; no Streamlit, no torch."""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from .figure_style import MUTED_COLOR, class_color, empty, lighten, style


def probabilities_figure(class_names: Sequence[str], probabilities: Sequence[float]) -> go.Figure:
    """Horizontal bars of one prediction's class probabilities, the top class highlighted."""
    names, probs = [str(n) for n in class_names], [float(p) for p in probabilities]
    if not names or len(names) != len(probs):
        return empty("Predicted probabilities", "No prediction to show", height=300)
    top = max(range(len(probs)), key=probs.__getitem__)
    colors = [class_color(i) if i == top else MUTED_COLOR for i in range(len(probs))]
    fig = go.Figure(go.Bar(
        x=probs, y=names, orientation="h", marker_color=colors, cliponaxis=False,
        text=[f"{p:.1%}" for p in probs], textposition="outside",
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    fig.update_xaxes(title_text="Probability", range=[0, 1.12], tickformat=".0%",
                     tickvals=[0, 0.25, 0.5, 0.75, 1.0])
    fig.update_yaxes(type="category", autorange="reversed")
    height = max(300, min(420, 110 + 30 * len(names)))
    return style(fig, f"Prediction: {names[top]} ({probs[top]:.1%})", height, showlegend=False)


def _discrete_colorscale(colors: Sequence[str]) -> list[list]:
    """Step colourscale mapping integer k (with zmin=-0.5, zmax=K-0.5) to ``colors[k]``."""
    k = len(colors)
    scale: list[list] = []
    for i, c in enumerate(colors):
        scale += [[i / k, c], [(i + 1) / k, c]]
    return scale


def decision_boundary_figure(grid: Mapping, points: Mapping | None = None) -> go.Figure:
    """Predicted-class regions over a 2-D grid (lightened class colours), optionally with data points."""
    names = [str(n) for n in grid.get("class_names") or []]
    x_name, y_name = grid.get("x_name", "x"), grid.get("y_name", "y")
    title = "Decision regions"
    if not names or not grid.get("xs") or not grid.get("ys"):
        return empty(title, "No grid to show")
    predicted = [[int(v) for v in row] for row in grid["predicted"]]
    conf = grid.get("confidence")
    custom = [[[names[v] if 0 <= v < len(names) else v, conf[r][c] if conf else None]
               for c, v in enumerate(row)] for r, row in enumerate(predicted)]
    hover = f"{x_name} %{{x:.3g}}<br>{y_name} %{{y:.3g}}<br>predicted %{{customdata[0]}}"
    if conf:
        hover += " (%{customdata[1]:.0%})"
    fig = go.Figure(go.Heatmap(
        x=list(grid["xs"]), y=list(grid["ys"]), z=predicted, customdata=custom,
        colorscale=_discrete_colorscale([lighten(class_color(i), 0.6) for i in range(len(names))]),
        zmin=-0.5, zmax=len(names) - 0.5, showscale=False, hovertemplate=hover + "<extra></extra>",
    ))
    px, py, labels = [], [], []
    if points:
        px, py = list(points.get("x") or []), list(points.get("y") or [])
        labels = [names.index(v) if isinstance(v, str) else int(v) for v in points.get("label") or []]
    for k, name in enumerate(names):
        idx = [i for i, lab in enumerate(labels) if lab == k]
        fig.add_trace(go.Scatter(
            x=[px[i] for i in idx] if points else [None], y=[py[i] for i in idx] if points else [None],
            mode="markers", name=name, legendgroup=name,
            marker=dict(color=class_color(k), size=7, line=dict(color="white", width=0.8),
                        symbol="circle" if points else "square"),
            hovertemplate=f"{name}<br>{x_name} %{{x:.3g}}<br>{y_name} %{{y:.3g}}<extra></extra>",
        ))
    fig.update_xaxes(title_text=x_name, showgrid=False, zeroline=False)
    fig.update_yaxes(title_text=y_name, showgrid=False, zeroline=False)
    return style(fig, title, height=420)


def importance_figure(names: Sequence[str], means: Sequence[float], sds: Sequence[float],
                      top: int = 25) -> go.Figure:
    """Permutation importance: accuracy lost when each column is shuffled, with its spread
    over repeats as error bars; the `top` most important columns, most important on top."""
    if not names:
        return empty("Feature importance", "No feature columns")
    rows = list(zip(names, means, sds))[:top]
    fig = go.Figure(go.Bar(
        x=[100 * m for _, m, _ in rows], y=[str(n) for n, _, _ in rows], orientation="h",
        marker_color=[class_color(0) if m > 0 else MUTED_COLOR for _, m, _ in rows],
        error_x={"type": "data", "array": [100 * s for _, _, s in rows], "visible": True},
        hovertemplate="%{y}: %{x:.2f} points lost<extra></extra>"))
    fig.update_xaxes(title_text="Accuracy lost when the column is shuffled (points)")
    fig.update_yaxes(type="category", autorange="reversed")
    more = f" (top {top} of {len(names)})" if len(names) > top else ""
    fig.update_yaxes(automargin=True)
    return style(fig, f"Feature importance on held-out rows{more}",
                  max(300, 90 + 26 * len(rows)), showlegend=False)


def effects_figure(names: Sequence[str], changes: Sequence[float], label: str,
                   top: int = 20) -> go.Figure:
    """One prediction explained: how much each column's value raised (right) or lowered
    (left) the predicted class's probability against not knowing it."""
    if not names:
        return empty("Why this prediction", "No feature columns")
    rows = list(zip(names, changes))[:top]
    fig = go.Figure(go.Bar(
        x=[100 * c for _, c in rows], y=[str(n) for n, _ in rows], orientation="h",
        marker_color=[class_color(0) if c >= 0 else class_color(1) for _, c in rows],
        hovertemplate="%{y}: %{x:+.1f} points<extra></extra>"))
    fig.update_xaxes(title_text=f"Change in P({label}) from this value (points)", zeroline=True)
    fig.update_yaxes(type="category", autorange="reversed")
    more = f" (top {top} of {len(names)})" if len(names) > top else ""
    fig.update_yaxes(automargin=True)
    return style(fig, f"Why {label}: each column against its default{more}",
                  max(260, 90 + 26 * len(rows)), showlegend=False)
