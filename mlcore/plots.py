"""Pure Plotly figure builders for Classifier Studio.

Every function takes plain JSON-able data (the engine's ``.to_dict()`` output)
and returns a ``plotly.graph_objects.Figure``. No Streamlit, no torch, no I/O,
so the figures can be unit-tested and reused outside the dashboard.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "CLASS_COLORS",
    "class_color",
    "curves_figure",
    "confusion_figure",
    "per_class_accuracy_figure",
    "roc_figure",
    "pr_figure",
    "probabilities_figure",
    "class_distribution_figure",
    "decision_boundary_figure",
    "digits_figure",
    "members_figure",
]

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


def _lighten(hex_color: str, amount: float = 0.6) -> str:
    """Blend a ``#RRGGBB`` colour towards white (amount 0 = unchanged, 1 = white)."""
    h = hex_color.lstrip("#")
    rgb = [int(h[i:i + 2], 16) for i in (0, 2, 4)]
    r, g, b = (round(c + (255 - c) * amount) for c in rgb)
    return f"rgb({r},{g},{b})"


def _style(fig: go.Figure, title: str, height: int = HEIGHT, **layout: Any) -> go.Figure:
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


def _empty(title: str, message: str, height: int = HEIGHT) -> go.Figure:
    """A valid, empty figure with a centred note (used when there is nothing to draw)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, font=dict(size=14, color="#888"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title, height)


def _fmt_title(base: str, label: str, value: Any) -> str:
    """``base (label = 0.912)`` when value is a number, else just ``base``."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{base} ({label} = {value:.3f})"
    return base


# --------------------------------------------------------------------------- training


def curves_figure(history: Mapping) -> go.Figure:
    """Loss and accuracy vs epoch, train vs eval, side by side, to judge fit and overfitting."""
    epochs = list(history.get("epochs") or [])
    eval_name = history.get("eval_name") or "eval"
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1)
    x = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    mode = "lines+markers" if len(epochs) <= 40 else "lines"
    series = [("train", "train", TRAIN_COLOR)]
    if any(e.get("eval_loss") is not None or e.get("eval_accuracy") is not None for e in epochs):
        series.append((eval_name, "eval", EVAL_COLOR))
    for name, key, color in series:
        for col, metric, fmt in ((1, "loss", ".4f"), (2, "accuracy", ".1%")):
            fig.add_trace(go.Scatter(
                x=x, y=[e.get(f"{key}_{metric}") for e in epochs], name=name, mode=mode,
                legendgroup=name, showlegend=(col == 1), line=dict(color=color),
                hovertemplate=f"{name} {metric}: %{{y:{fmt}}}<extra></extra>",
            ), row=1, col=col)
    if not epochs:
        fig.add_annotation(text="No epochs yet", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=14, color="#888"))
    fig.update_xaxes(title_text="Epoch", tickformat="d")
    fig.update_yaxes(title_text="Loss", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="Accuracy", row=1, col=2, **PERCENT_AXIS)
    return _style(fig, "Training curves", hovermode="x unified")


# --------------------------------------------------------------------------- evaluation


def confusion_figure(
    confusion: Sequence[Sequence[int]],
    class_names: Sequence[str],
    normalize: bool = False,
    title: str = "Confusion matrix",
    clickable: bool = False,
) -> go.Figure:
    """Heatmap of actual (rows, top to bottom) vs predicted (columns) counts or row fractions.

    Each cell's customdata is ``[actual_index, predicted_index]`` so a page can react to clicks.
    Plotly heatmaps emit no selection events, so ``clickable`` adds an invisible square marker
    per cell (trace 1, same customdata, highlighted when selected) that a click selects.
    """
    counts = [[int(v) for v in row] for row in confusion]
    names = [str(n) for n in class_names]
    if not counts or not names:
        return _empty(title, "No predictions to show")
    if normalize:
        totals = [sum(row) for row in counts]
        z = [[v / t if t else 0.0 for v in row] for row, t in zip(counts, totals)]
        text = [[f"{f:.0%}<br>({v})" for f, v in zip(zr, row)] for zr, row in zip(z, counts)]
        zrange, bar_title = dict(zmin=0.0, zmax=1.0), "Row %"
    else:
        z, text = counts, [[str(v) for v in row] for row in counts]
        zrange, bar_title = dict(zmin=0), "Count"
    customdata = [[[i, j] for j in range(len(row))] for i, row in enumerate(counts)]
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", customdata=customdata,
        colorscale="Blues", colorbar=dict(title=dict(text=bar_title),
                                          tickformat=".0%" if normalize else None),
        hovertemplate="Actual: %{y}<br>Predicted: %{x}<br>%{text}<extra></extra>", **zrange,
    ))
    height = max(HEIGHT, min(520, 140 + 36 * len(names)))
    if clickable:
        fig.data[0].hoverinfo = "skip"  # the markers carry the hover text instead
        cell = (height - 110) / len(names)  # plot-area pixels per row
        flat = [(i, j) for i in range(len(names)) for j in range(len(names))]
        fig.add_trace(go.Scatter(
            x=[names[j] for _, j in flat], y=[names[i] for i, _ in flat], mode="markers",
            customdata=[[i, j] for i, j in flat], text=[text[i][j] for i, j in flat],
            marker=dict(symbol="square", size=max(10, min(90, 0.8 * cell)), opacity=0,
                        color=TRAIN_COLOR),
            selected=dict(marker=dict(opacity=0.25)), unselected=dict(marker=dict(opacity=0)),
            showlegend=False, hovertemplate="Actual: %{y}<br>Predicted: %{x}<br>%{text}"
                                            "<br>click to list these rows<extra></extra>"))
    fig.update_xaxes(title_text="Predicted class", type="category", side="bottom")
    fig.update_yaxes(title_text="Actual class", type="category", autorange="reversed")
    return _style(fig, title, height=height)


def per_class_accuracy_figure(per_class: Sequence[Mapping]) -> go.Figure:
    """Bars of per-class accuracy (recall) with ``correct/support`` labels, to spot weak classes."""
    title = "Accuracy per class"
    if not per_class:
        return _empty(title, "No classes to show")
    names = [str(c.get("name", i)) for i, c in enumerate(per_class)]
    acc = [c.get("accuracy") or 0.0 for c in per_class]
    custom = [[c.get("precision"), c.get("recall"), c.get("f1")] for c in per_class]
    fig = go.Figure(go.Bar(
        x=names, y=acc, customdata=custom, cliponaxis=False,
        text=[f"{c.get('correct', 0)}/{c.get('support', 0)}" for c in per_class],
        textposition="outside", marker_color=[class_color(i) for i in range(len(names))],
        hovertemplate=("%{x}<br>accuracy %{y:.1%} (%{text})<br>precision %{customdata[0]:.3f}"
                       "<br>recall %{customdata[1]:.3f}<br>F1 %{customdata[2]:.3f}<extra></extra>"),
    ))
    fig.update_xaxes(title_text="Class", type="category")
    fig.update_yaxes(title_text="Accuracy", range=[0, 1.1], tickformat=".0%",
                     tickvals=[0, 0.25, 0.5, 0.75, 1.0])
    return _style(fig, title, showlegend=False)


def _nearest_threshold_index(thresholds: Sequence[float], threshold: float) -> int | None:
    """Index of the finite threshold closest to ``threshold`` (``inf`` sentinels are skipped)."""
    best, best_d = None, math.inf
    for i, t in enumerate(thresholds):
        if t is None or not math.isfinite(float(t)):
            continue  # sklearn's ROC starts with an inf sentinel; never mark it
        d = abs(float(t) - threshold)
        if d < best_d:
            best, best_d = i, d
    return best


def _curve_figure(xs: Sequence[float], ys: Sequence[float], thresholds: Sequence[float],
                  threshold: float | None, name: str, title: str,
                  x_title: str, y_title: str, diagonal: bool) -> go.Figure:
    """Shared body of the ROC and PR figures: curve, optional chance line, threshold marker."""
    fig = go.Figure()
    if diagonal:
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                                 line=dict(color="#999", dash="dash"), hoverinfo="skip"))
    n = min(len(xs), len(ys))
    tcol = [float(thresholds[i]) if i < len(thresholds) and thresholds[i] is not None
            and math.isfinite(float(thresholds[i])) else None for i in range(n)]
    fig.add_trace(go.Scatter(
        x=list(xs[:n]), y=list(ys[:n]), mode="lines", name=name, customdata=tcol,
        line=dict(color=CLASS_COLORS[0], width=2.5),
        hovertemplate=f"{x_title} %{{x:.3f}}<br>{y_title} %{{y:.3f}}"
                      "<br>threshold %{customdata}<extra></extra>",
    ))
    if threshold is not None:
        i = _nearest_threshold_index(tcol, float(threshold))
        if i is not None:
            fig.add_trace(go.Scatter(
                x=[xs[i]], y=[ys[i]], mode="markers", name=f"threshold {float(threshold):.2f}",
                customdata=[tcol[i]],
                marker=dict(size=13, color=EVAL_COLOR, symbol="circle",
                            line=dict(color="white", width=2)),
                hovertemplate=f"threshold %{{customdata:.3f}}<br>{x_title} %{{x:.3f}}"
                              f"<br>{y_title} %{{y:.3f}}<extra></extra>",
            ))
    fig.update_xaxes(title_text=x_title, range=[-0.02, 1.02], constrain="domain")
    fig.update_yaxes(title_text=y_title, range=[-0.02, 1.02])
    return _style(fig, title)


def roc_figure(roc: Mapping, threshold: float | None = None) -> go.Figure:
    """ROC curve with the chance diagonal and AUC; optionally marks the operating threshold."""
    return _curve_figure(
        roc.get("fpr") or [], roc.get("tpr") or [], roc.get("thresholds") or [], threshold,
        name="ROC", title=_fmt_title("ROC curve", "AUC", roc.get("auc")),
        x_title="False positive rate", y_title="True positive rate", diagonal=True)


def pr_figure(pr: Mapping, threshold: float | None = None) -> go.Figure:
    """Precision-recall curve with average precision; optionally marks the operating threshold."""
    # sklearn: thresholds ascending, len(thresholds) == len(precision) - 1; the final
    # (recall 0, precision 1) point has no threshold and is never marked.
    return _curve_figure(
        pr.get("recall") or [], pr.get("precision") or [], pr.get("thresholds") or [], threshold,
        name="precision-recall", title=_fmt_title("Precision-recall curve", "AP", pr.get("auc")),
        x_title="Recall", y_title="Precision", diagonal=False)


# --------------------------------------------------------------------------- predictions & data


def probabilities_figure(class_names: Sequence[str], probabilities: Sequence[float]) -> go.Figure:
    """Horizontal bars of one prediction's class probabilities, the top class highlighted."""
    names, probs = [str(n) for n in class_names], [float(p) for p in probabilities]
    if not names or len(names) != len(probs):
        return _empty("Predicted probabilities", "No prediction to show", height=300)
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
    return _style(fig, f"Prediction: {names[top]} ({probs[top]:.1%})", height, showlegend=False)


def class_distribution_figure(counts: Mapping[str, int],
                              title: str = "Class distribution") -> go.Figure:
    """Bars of examples per class with count and share, to show (im)balance at a glance."""
    names, values = [str(k) for k in counts], [int(v) for v in counts.values()]
    if not names:
        return _empty(title, "No data")
    total = sum(values)
    fig = go.Figure(go.Bar(
        x=names, y=values, cliponaxis=False, textposition="outside",
        marker_color=[class_color(i) for i in range(len(names))],
        text=[f"{v} ({v / total:.0%})" if total else f"{v}" for v in values],
        hovertemplate="%{x}: %{text}<extra></extra>",
    ))
    fig.update_xaxes(title_text="Class", type="category")
    fig.update_yaxes(title_text="Examples", rangemode="tozero")
    return _style(fig, title, showlegend=False)


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
        return _empty(title, "No grid to show")
    predicted = [[int(v) for v in row] for row in grid["predicted"]]
    conf = grid.get("confidence")
    custom = [[[names[v] if 0 <= v < len(names) else v, conf[r][c] if conf else None]
               for c, v in enumerate(row)] for r, row in enumerate(predicted)]
    hover = f"{x_name} %{{x:.3g}}<br>{y_name} %{{y:.3g}}<br>predicted %{{customdata[0]}}"
    if conf:
        hover += " (%{customdata[1]:.0%})"
    fig = go.Figure(go.Heatmap(
        x=list(grid["xs"]), y=list(grid["ys"]), z=predicted, customdata=custom,
        colorscale=_discrete_colorscale([_lighten(class_color(i), 0.6) for i in range(len(names))]),
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
    return _style(fig, title, height=420)


def digits_figure(pixels: Sequence[Sequence[float]], labels: Sequence[str]) -> go.Figure:
    """A row of up to 10 small 8x8 greyscale digit images (values 0..16), titled by label."""
    images = [list(p) for p in pixels][:10]
    if not images:
        return _empty("Digits", "No images", height=220)
    n, gap = len(images), 0.015
    width = (1 - gap * (n - 1)) / n
    traces, axes, titles = [], {}, []
    for i, img in enumerate(images):
        side = math.isqrt(len(img))
        if side * side != len(img):
            raise ValueError(f"image {i} has {len(img)} pixels, not a square (expected 64)")
        k = "" if i == 0 else str(i + 1)
        traces.append(go.Heatmap(
            z=[img[r * side:(r + 1) * side] for r in range(side)], xaxis=f"x{k}", yaxis=f"y{k}",
            zmin=0, zmax=16, colorscale="Greys", showscale=False,
            hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"))
        hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
        left = i * (width + gap)
        axes[f"xaxis{k}"] = dict(domain=[left, left + width], anchor=f"y{k}", **hidden)
        axes[f"yaxis{k}"] = dict(anchor=f"x{k}", autorange="reversed", scaleanchor=f"x{k}", **hidden)
        titles.append(dict(text=str(labels[i]) if i < len(labels) else "", x=left + width / 2,
                           y=1.0, xref="paper", yref="paper", xanchor="center",
                           yanchor="bottom", showarrow=False, font=dict(size=14)))
    return _style(go.Figure(traces), "Digits", height=220, annotations=titles,
                  margin=dict(l=10, r=10, t=60, b=10), **axes)


def members_figure(members: Mapping, where: str = "test") -> go.Figure:
    """An ensemble's spread: one dot per member at its accuracy on the ``where`` rows (members
    with the same accuracy stacked), the ensemble's accuracy as a dashed line; ``members``
    as ``Report.members()`` gives it (count, accuracy, min, median, max, ensemble)."""
    title = f"Each member's {where} accuracy"
    accuracy = [float(a) for a in (members or {}).get("accuracy") or []]
    if not accuracy:
        return _empty(title, "Not an ensemble: no members to show", height=220)
    seen: dict[float, int] = {}
    stack = []
    for a in accuracy:
        seen[round(a, 9)] = seen.get(round(a, 9), 0) + 1
        stack.append(seen[round(a, 9)])
    fig = go.Figure(go.Scatter(
        x=accuracy, y=stack, mode="markers", name="members", showlegend=False,
        cliponaxis=False,
        marker=dict(size=11, color=class_color(0), line=dict(width=1, color="white")),
        customdata=list(range(1, len(accuracy) + 1)),
        hovertemplate="member %{customdata}: %{x:.1%}<extra></extra>"))
    ensemble = members.get("ensemble")
    if ensemble is not None:
        fig.add_vline(x=float(ensemble), line=dict(color=EVAL_COLOR, width=2, dash="dash"),
                      annotation=dict(text=f"ensemble {float(ensemble):.1%}",
                                      font=dict(color=EVAL_COLOR), yanchor="bottom"),
                      annotation_position="top")
    values = accuracy + ([float(ensemble)] if ensemble is not None else [])
    low, high = min(values), max(values)
    pad = max(0.01, (high - low) * 0.15)
    fig.update_xaxes(title_text=f"Accuracy on the {where} rows", tickformat=".0%",
                     range=[max(0.0, low - pad), min(1.01, high + pad)])
    fig.update_yaxes(visible=False, range=[0.3, max(stack) + 0.7])
    return _style(fig, title, height=min(420, 200 + 10 * max(0, max(stack) - 4)),
                  showlegend=False,
                  margin=dict(l=20, r=20, t=70, b=50))


def importance_figure(names: Sequence[str], means: Sequence[float], sds: Sequence[float],
                      top: int = 25) -> go.Figure:
    """Permutation importance: accuracy lost when each column is shuffled, with its spread
    over repeats as error bars; the `top` most important columns, most important on top."""
    if not names:
        return _empty("Feature importance", "No feature columns")
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
    return _style(fig, f"Feature importance on held-out rows{more}",
                  max(300, 90 + 26 * len(rows)), showlegend=False)


def effects_figure(names: Sequence[str], changes: Sequence[float], label: str,
                   top: int = 20) -> go.Figure:
    """One prediction explained: how much each column's value raised (right) or lowered
    (left) the predicted class's probability against not knowing it."""
    if not names:
        return _empty("Why this prediction", "No feature columns")
    rows = list(zip(names, changes))[:top]
    fig = go.Figure(go.Bar(
        x=[100 * c for _, c in rows], y=[str(n) for n, _ in rows], orientation="h",
        marker_color=[class_color(0) if c >= 0 else class_color(1) for _, c in rows],
        hovertemplate="%{y}: %{x:+.1f} points<extra></extra>"))
    fig.update_xaxes(title_text=f"Change in P({label}) from this value (points)", zeroline=True)
    fig.update_yaxes(type="category", autorange="reversed")
    more = f" (top {top} of {len(names)})" if len(names) > top else ""
    fig.update_yaxes(automargin=True)
    return _style(fig, f"Why {label}: each column against its default{more}",
                  max(260, 90 + 26 * len(rows)), showlegend=False)


def compare_curves_figure(histories: Mapping[str, Mapping]) -> go.Figure:
    """Runs side by side: each run's evaluation accuracy (solid) and train accuracy (dotted)
    per epoch, one colour per run."""
    fig = go.Figure()
    for i, (name, history) in enumerate(histories.items()):
        epochs = (history or {}).get("epochs", [])
        color = class_color(i)
        xs = [e["epoch"] for e in epochs]
        fig.add_trace(go.Scatter(x=xs, y=[e.get("train_accuracy") for e in epochs],
                                 name=f"{name} train", mode="lines", legendgroup=name,
                                 line={"color": color, "dash": "dot"}))
        if any(e.get("eval_accuracy") is not None for e in epochs):
            fig.add_trace(go.Scatter(
                x=xs, y=[e.get("eval_accuracy") for e in epochs], legendgroup=name,
                name=f"{name} {(history or {}).get('eval_name') or 'eval'}", mode="lines",
                line={"color": color}))
    if not fig.data:
        return _empty("Accuracy per epoch", "These runs recorded no epochs")
    fig.update_xaxes(title_text="Epoch")
    fig.update_yaxes(title_text="Accuracy", tickformat=".0%")
    return _style(fig, "Accuracy per epoch, run by run", HEIGHT + 60,  # legend below: clear
                  legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0.0},
                  margin={"l": 60, "r": 20, "t": 60, "b": 90})


def compare_classes_figure(per_run: Mapping[str, Sequence[Mapping]],
                           metric: str = "f1") -> go.Figure:
    """Grouped bars: one group per class, one bar per run, the test rows' `metric`."""
    fig = go.Figure()
    for i, (name, rows) in enumerate(per_run.items()):
        fig.add_trace(go.Bar(x=[str(r["name"]) for r in rows], y=[r[metric] for r in rows],
                             name=name, marker_color=class_color(i),
                             hovertemplate=f"{name} · %{{x}}: %{{y:.3f}}<extra></extra>"))
    if not fig.data:
        return _empty(f"{metric} per class", "No per-class metrics recorded")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=metric, range=[0, 1.05])
    return _style(fig, f"Test {metric} per class, run by run")
