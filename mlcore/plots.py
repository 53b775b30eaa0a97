"""Pure Plotly figure builders for training and evaluation: the curves, the confusion
matrix, per-class accuracy, ROC/PR, the class distribution, digits, an ensemble's members
and runs compared (the shared look: figure_style; figures that explain a model:
explain_figures).

Every function takes plain JSON-able data (the engine's ``.to_dict()`` output)
and returns a ``plotly.graph_objects.Figure``. No Streamlit, no torch, no I/O,
so the figures can be unit-tested and reused outside the dashboard.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .figure_style import (CLASS_COLORS, EVAL_COLOR, HEIGHT, PERCENT_AXIS, TRAIN_COLOR,
                           class_color, empty, style)


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
    return style(fig, "Training curves", hovermode="x unified")


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
        return empty(title, "No predictions to show")
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
    return style(fig, title, height=height)


def per_class_accuracy_figure(per_class: Sequence[Mapping]) -> go.Figure:
    """Bars of per-class accuracy (recall) with ``correct/support`` labels, to spot weak classes."""
    title = "Accuracy per class"
    if not per_class:
        return empty(title, "No classes to show")
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
    return style(fig, title, showlegend=False)


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
    return style(fig, title)


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


def class_distribution_figure(counts: Mapping[str, int],
                              title: str = "Class distribution") -> go.Figure:
    """Bars of examples per class with count and share, to show (im)balance at a glance."""
    names, values = [str(k) for k in counts], [int(v) for v in counts.values()]
    if not names:
        return empty(title, "No data")
    total = sum(values)
    fig = go.Figure(go.Bar(
        x=names, y=values, cliponaxis=False, textposition="outside",
        marker_color=[class_color(i) for i in range(len(names))],
        text=[f"{v} ({v / total:.0%})" if total else f"{v}" for v in values],
        hovertemplate="%{x}: %{text}<extra></extra>",
    ))
    fig.update_xaxes(title_text="Class", type="category")
    fig.update_yaxes(title_text="Examples", rangemode="tozero")
    return style(fig, title, showlegend=False)


def digits_figure(pixels: Sequence[Sequence[float]], labels: Sequence[str]) -> go.Figure:
    """A row of up to 10 small 8x8 greyscale digit images (values 0..16), titled by label."""
    images = [list(p) for p in pixels][:10]
    if not images:
        return empty("Digits", "No images", height=220)
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
    return style(go.Figure(traces), "Digits", height=220, annotations=titles,
                  margin=dict(l=10, r=10, t=60, b=10), **axes)


def members_figure(members: Mapping, where: str = "test") -> go.Figure:
    """An ensemble's spread: one dot per member at its accuracy on the ``where`` rows (members
    with the same accuracy stacked), the ensemble's accuracy as a dashed line; ``members``
    as ``Report.members()`` gives it (count, accuracy, min, median, max, ensemble)."""
    title = f"Each member's {where} accuracy"
    accuracy = [float(a) for a in (members or {}).get("accuracy") or []]
    if not accuracy:
        return empty(title, "Not an ensemble: no members to show", height=220)
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
    return style(fig, title, height=min(420, 200 + 10 * max(0, max(stack) - 4)),
                  showlegend=False,
                  margin=dict(l=20, r=20, t=70, b=50))


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
        return empty("Accuracy per epoch", "These runs recorded no epochs")
    fig.update_xaxes(title_text="Epoch")
    fig.update_yaxes(title_text="Accuracy", tickformat=".0%")
    return style(fig, "Accuracy per epoch, run by run", HEIGHT + 60,  # legend below: clear
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
        return empty(f"{metric} per class", "No per-class metrics recorded")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=metric, range=[0, 1.05])
    return style(fig, f"Test {metric} per class, run by run")
