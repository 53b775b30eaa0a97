"""Unit tests for mlcore.plots and mlcore.explain_figures: the figures carry the right data, not just "no exception"."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from mlcore import explain_figures, figure_style, plots
from mlcore.explain_figures import decision_boundary_figure, probabilities_figure
from mlcore.figure_style import class_color
from mlcore.plots import (
    class_distribution_figure,
    confusion_figure,
    curves_figure,
    digits_figure,
    per_class_accuracy_figure,
    pr_figure,
    roc_figure,
)


def _epoch(i: int, with_eval: bool = True) -> dict:
    return {
        "epoch": i,
        "train_loss": 1.0 / i,
        "train_accuracy": 0.5 + i / 100,
        "eval_loss": 1.1 / i if with_eval else None,
        "eval_accuracy": 0.45 + i / 100 if with_eval else None,
        "elapsed_s": 0.01 * i,
    }


def _check(fig: go.Figure) -> None:
    """Common properties: a Figure, the shared template, modest height, serialisable."""
    assert isinstance(fig, go.Figure)
    assert fig.layout.template.layout.paper_bgcolor is not None  # template resolved
    assert 180 <= fig.layout.height <= 520
    fig.to_json()


# ---------------------------------------------------------------- curves


def test_curves_train_and_eval_traces():
    hist = {"eval_name": "test", "epochs": [_epoch(i) for i in range(1, 6)]}
    fig = curves_figure(hist)
    _check(fig)
    assert [t.name for t in fig.data] == ["train", "train", "test", "test"]
    for t in fig.data:
        assert list(t.x) == [1, 2, 3, 4, 5]
    # loss in the left subplot, accuracy in the right one
    assert fig.data[0].xaxis == "x" and fig.data[1].xaxis == "x2"
    assert fig.data[0].y[0] == pytest.approx(1.0)
    assert fig.data[3].y[-1] == pytest.approx(0.50)
    assert fig.layout.yaxis2.tickformat == ".0%"
    assert fig.layout.yaxis2.range[0] == 0 and 1.0 <= fig.layout.yaxis2.range[1] <= 1.05
    # one legend entry per series
    assert sum(bool(t.showlegend) for t in fig.data) == 2


def test_curves_without_eval_and_default_names():
    fig = curves_figure({"eval_name": None, "epochs": [_epoch(i, False) for i in (1, 2)]})
    assert [t.name for t in fig.data] == ["train", "train"]
    fig = curves_figure({"eval_name": None, "epochs": [_epoch(1)]})
    assert [t.name for t in fig.data] == ["train", "train", "eval", "eval"]


@pytest.mark.parametrize("epochs", [[], [_epoch(1)]])
def test_curves_zero_or_one_epoch(epochs):
    fig = curves_figure({"eval_name": "validation", "epochs": epochs})
    _check(fig)
    assert all(len(t.x) == len(epochs) for t in fig.data)


# ---------------------------------------------------------------- confusion


CM = [[46, 10, 5], [3, 50, 7], [0, 0, 0]]
NAMES = ["finance", "geology", "history"]


def test_confusion_counts_and_customdata():
    fig = confusion_figure(CM, NAMES)
    _check(fig)
    hm = fig.data[0]
    assert isinstance(hm, go.Heatmap)
    assert [list(r) for r in hm.z] == CM
    assert list(hm.x) == NAMES and list(hm.y) == NAMES
    assert hm.text[0][1] == "10"
    cd = np.asarray(hm.customdata)
    assert cd.shape == (3, 3, 2)
    for i in range(3):
        for j in range(3):
            assert list(cd[i, j]) == [i, j]
    # actual classes top-to-bottom in class order
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.yaxis.type == "category" and fig.layout.xaxis.type == "category"
    assert "Predicted" in fig.layout.xaxis.title.text and "Actual" in fig.layout.yaxis.title.text


def test_confusion_normalized_rows_and_zero_support():
    fig = confusion_figure(CM, NAMES, normalize=True, title="Test set")
    hm = fig.data[0]
    z = np.asarray(hm.z, dtype=float)
    assert np.allclose(z[:2].sum(axis=1), 1.0)
    assert np.all(z[2] == 0.0) and np.all(np.isfinite(z))
    assert z[0, 0] == pytest.approx(46 / 61)
    assert "75%" in hm.text[0][0] and "(46)" in hm.text[0][0]
    assert fig.layout.title.text == "Test set"
    assert (hm.zmin, hm.zmax) == (0.0, 1.0)


def test_confusion_numeric_class_names_stay_categorical():
    fig = confusion_figure(np.eye(3, dtype=int).tolist(), ["0", "1", "2"])
    assert fig.layout.yaxis.type == "category"


# ---------------------------------------------------------------- per-class accuracy


def test_per_class_accuracy_bars():
    per_class = [
        {"name": "finance", "support": 61, "correct": 46, "wrong": 15, "accuracy": 46 / 61,
         "precision": 0.8, "recall": 46 / 61, "f1": 0.776, "predicted": 57},
        {"name": "geology", "support": 0, "correct": 0, "wrong": 0, "accuracy": None,
         "precision": None, "recall": None, "f1": None, "predicted": 3},
    ]
    fig = per_class_accuracy_figure(per_class)
    _check(fig)
    bar = fig.data[0]
    assert list(bar.x) == ["finance", "geology"]
    assert bar.y[0] == pytest.approx(46 / 61) and bar.y[1] == 0.0
    assert list(bar.text) == ["46/61", "0/0"]
    assert list(bar.marker.color) == [class_color(0), class_color(1)]
    assert fig.layout.yaxis.tickformat == ".0%"


# ---------------------------------------------------------------- ROC / PR


ROC = {"fpr": [0.0, 0.0, 0.1, 0.3, 1.0], "tpr": [0.0, 0.5, 0.8, 0.95, 1.0],
       "thresholds": [math.inf, 0.9, 0.6, 0.4, 0.1], "auc": 0.9123}
PR = {"precision": [0.5, 0.6, 0.8, 0.9, 1.0], "recall": [1.0, 0.95, 0.8, 0.5, 0.0],
      "thresholds": [0.1, 0.4, 0.6, 0.9], "auc": 0.8771}


def test_roc_curve_diagonal_auc_and_marker():
    fig = roc_figure(ROC, threshold=0.55)
    _check(fig)
    assert "0.912" in fig.layout.title.text
    names = [t.name for t in fig.data]
    assert names[:2] == ["chance", "ROC"] and len(fig.data) == 3
    assert list(fig.data[0].x) == [0, 1] and list(fig.data[0].y) == [0, 1]
    assert list(fig.data[1].x) == ROC["fpr"]
    marker = fig.data[2]
    assert (marker.x[0], marker.y[0]) == (0.1, 0.8)  # threshold 0.6 is nearest to 0.55
    assert fig.to_json()  # inf threshold in customdata must still serialise


def test_roc_marker_skips_infinite_first_threshold():
    fig = roc_figure(ROC, threshold=5.0)  # far above every finite threshold
    marker = fig.data[-1]
    assert (marker.x[0], marker.y[0]) == (0.0, 0.5)
    assert len(roc_figure(ROC).data) == 2  # no threshold, no marker


def test_pr_curve_and_marker():
    fig = pr_figure(PR, threshold=0.42)
    _check(fig)
    assert "0.877" in fig.layout.title.text
    assert [t.name for t in fig.data][0] == "precision-recall" and len(fig.data) == 2
    assert list(fig.data[0].x) == PR["recall"] and list(fig.data[0].y) == PR["precision"]
    marker = fig.data[1]
    assert (marker.x[0], marker.y[0]) == (0.95, 0.6)  # thresholds[1] == 0.4
    # the last (recall 0, precision 1) point has no threshold and is never marked
    marker = pr_figure(PR, threshold=1.0).data[1]
    assert (marker.x[0], marker.y[0]) == (0.5, 0.9)
    assert fig.layout.xaxis.title.text == "Recall"


# ---------------------------------------------------------------- probabilities / distribution


def test_probabilities_highlight_argmax():
    names, probs = ["a", "b", "c", "d"], [0.1, 0.2, 0.6, 0.1]
    fig = probabilities_figure(names, probs)
    _check(fig)
    bar = fig.data[0]
    assert list(bar.y) == names and list(bar.x) == probs
    colors = list(bar.marker.color)
    assert colors[2] == class_color(2)
    assert len({c for i, c in enumerate(colors) if i != 2}) == 1 and colors[0] != colors[2]
    assert list(bar.text) == ["10.0%", "20.0%", "60.0%", "10.0%"]
    assert "c" in fig.layout.title.text


def test_class_distribution_counts_and_percents():
    fig = class_distribution_figure({"x": 30, "y": 10}, title="Training set")
    _check(fig)
    bar = fig.data[0]
    assert list(bar.x) == ["x", "y"] and list(bar.y) == [30, 10]
    assert list(bar.text) == ["30 (75%)", "10 (25%)"]
    assert list(bar.marker.color) == [class_color(0), class_color(1)]
    assert fig.layout.title.text == "Training set"
    assert list(class_distribution_figure({"x": 0}).data[0].text) == ["0"]


# ---------------------------------------------------------------- decision boundary


def _grid(w: int = 4, h: int = 3) -> dict:
    xs = np.linspace(-1, 1, w).tolist()
    ys = np.linspace(-2, 2, h).tolist()
    predicted = [[(r + c) % 3 for c in range(w)] for r in range(h)]
    return {"x_name": "x1", "y_name": "x2", "xs": xs, "ys": ys, "predicted": predicted,
            "confidence": [[0.9] * w for _ in range(h)], "class_names": ["a", "b", "c"]}


def test_decision_boundary_grid_and_points():
    grid = _grid()
    pts = {"x": [0.0, 0.5, -0.5, 0.2], "y": [0.0, 1.0, -1.0, 0.3], "label": [0, 2, 2, 1]}
    fig = decision_boundary_figure(grid, pts)
    _check(fig)
    hm = fig.data[0]
    assert np.asarray(hm.z).shape == (3, 4)
    assert [list(r) for r in hm.z] == grid["predicted"]
    assert (hm.zmin, hm.zmax) == (-0.5, 2.5)
    # discrete scale: 2 stops per class, class colours lightened, never the raw ones
    assert len(hm.colorscale) == 6
    assert class_color(0) not in {c for _, c in hm.colorscale}
    scatters = fig.data[1:]
    assert [s.name for s in scatters] == ["a", "b", "c"]
    assert [s.marker.color for s in scatters] == [class_color(i) for i in range(3)]
    assert list(scatters[2].x) == [0.5, -0.5] and list(scatters[1].y) == [0.3]
    assert fig.layout.xaxis.title.text == "x1" and fig.layout.yaxis.title.text == "x2"


def test_decision_boundary_without_points_still_has_legend():
    grid = _grid(5, 2)
    del grid["confidence"]
    fig = decision_boundary_figure(grid)
    _check(fig)
    assert np.asarray(fig.data[0].z).shape == (2, 5)
    assert [t.name for t in fig.data[1:]] == ["a", "b", "c"]


# ---------------------------------------------------------------- digits


def test_digits_images():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 17, size=(12, 64)).tolist()
    labels = [str(i % 10) for i in range(12)]
    fig = digits_figure(pixels, labels)
    _check(fig)
    assert len(fig.data) == 10  # capped at 10
    for k, t in enumerate(fig.data):
        z = np.asarray(t.z)
        assert z.shape == (8, 8)
        assert np.array_equal(z.ravel(), np.asarray(pixels[k]))
        assert (t.zmin, t.zmax) == (0, 16)
    assert [a.text for a in fig.layout.annotations] == labels[:10]
    assert fig.layout.xaxis.showticklabels is False and fig.layout.yaxis10.showticklabels is False


def test_digits_rejects_non_square():
    with pytest.raises(ValueError):
        digits_figure([[0.0] * 10], ["x"])


# ---------------------------------------------------------------- empty inputs & module hygiene


def test_empty_inputs_give_valid_figures():
    for fig in (
        confusion_figure([], []),
        per_class_accuracy_figure([]),
        probabilities_figure([], []),
        class_distribution_figure({}),
        digits_figure([], []),
        roc_figure({"fpr": [], "tpr": [], "thresholds": [], "auc": None}, threshold=0.5),
    ):
        _check(fig)


def test_palette_is_stable_and_module_is_pure():
    assert class_color(0) == class_color(len(figure_style.CLASS_COLORS))
    assert len(set(figure_style.CLASS_COLORS)) == len(figure_style.CLASS_COLORS)
    for module in (plots, explain_figures, figure_style):
        src = open(module.__file__, encoding="utf-8").read()
        assert "import streamlit" not in src and "import torch" not in src


def test_members_figure_stacks_equal_accuracies_and_marks_the_ensemble():
    members = {"count": 5, "accuracy": [0.8, 0.825, 0.8, 0.85, 0.8], "min": 0.8,
               "median": 0.8, "max": 0.85, "ensemble": 0.875}
    fig = plots.members_figure(members)
    _check(fig)
    dots = fig.data[0]
    assert list(dots.x) == members["accuracy"]
    assert list(dots.y) == [1, 1, 2, 1, 3]  # the three members at 80% stacked
    (line,) = fig.layout.shapes
    assert line.x0 == line.x1 == 0.875 and line.line.dash == "dash"
    assert "ensemble 87.5%" in [a.text for a in fig.layout.annotations]
    low, high = fig.layout.xaxis.range
    assert low < 0.8 and high > 0.875 and high <= 1.01
    assert fig.layout.title.text == "Each member's test accuracy"


def test_members_figure_for_a_single_network_is_an_empty_note():
    fig = plots.members_figure(None)
    _check(fig)
    assert not fig.data and "Not an ensemble" in fig.layout.annotations[0].text
