"""Evaluate page: how good the model is, where it goes wrong, and the rows behind each
mistake. Everything is computed by mlcore (Report, Predictor) and drawn by mlcore.plots and
mlcore.explain_figures."""
import pandas as pd
import streamlit as st

from mlcore import explain_figures, plots
from mlcore.baselines import compare_with_baselines
from mlcore.explain import MAX_ROWS, Importance, held_out_importance
from mlcore.metrics import members_line, one_row_points, same_test_rows
from mlcore.schema import numeric_values
from ui import guide, share, state
from ui.display import show_table
from ui.trials import search_section

OVERFIT_POINTS = 10  # train accuracy this many points above test: say it may be overfitting

st.title("Evaluate")
st.caption("Step 3 of 5 · Accuracy with counts, results per class, the confusion matrix and "
           "the rows behind each cell, the threshold for two classes, decision regions and "
           "the training curves.")

current = state.model()
if current is None:
    guide.no_model("This page evaluates a trained model: train and test accuracy with counts, "
                   "precision, recall and F1 per class, the confusion matrix with the rows "
                   "behind each cell, and for two classes a threshold with ROC and PR curves.",
                   "A model is training now; its evaluation appears here when it finishes.")
guide.stale(current)

bundle = current.bundle
names = list(bundle.class_names)
PART_TITLES = {"train": "Train", "validation": "Validation", "test": "Test"}
st.markdown(f"Model **{bundle.architecture}** {bundle.model_config.activation} predicting "
            f"**{bundle.encoder.label}** ({', '.join(names)}) · {current.origin}")


def accuracy_section(summaries: dict[str, dict]) -> None:
    """One metric per part with 'N of M correct' and log-loss; a note on overfitting."""
    order = [p for p in ("train", "validation", "test") if p in summaries]
    for column, part in zip(st.columns(len(order)), order):
        s = summaries[part]
        with column.container(border=True):
            st.metric(f"{PART_TITLES[part]} accuracy", f"{s['accuracy']:.2%}",
                      help=f"Share of the {part} rows whose predicted class is their class; "
                           "log-loss is the mean of -log P(true class), lower is better")
            st.caption(f"{s['n_correct']} of {s['n']} correct · log-loss {s['log_loss']:.4f}")
    if "train" in summaries and "test" in summaries:
        gap = 100 * (summaries["train"]["accuracy"] - summaries["test"]["accuracy"])
        if gap > OVERFIT_POINTS:
            st.warning(f"Train accuracy is {gap:.1f} points above test accuracy: the network "
                       "may be memorising its training rows (overfitting) rather than learning "
                       "what carries over to new rows. Try fewer epochs, dropout, weight decay "
                       "or early stopping on Train.", icon=":material/warning:")
        elif gap < -OVERFIT_POINTS:
            st.info(f"Test accuracy is {-gap:.1f} points above train accuracy. With few test "
                    "rows this can be luck of the split; a larger test fraction gives a "
                    "steadier number.", icon=":material/info:")


def baselines_section(metrics: dict, own_rows: bool) -> None:
    """This model beside the majority class and logistic regression on the same test rows,
    as measured where the model trained (nothing is fitted here)."""
    st.subheader("Compared with baselines")
    comparison = compare_with_baselines(metrics)
    if comparison is None:
        st.caption("Baselines (the majority class and logistic regression on the same rows) "
                   "are measured when a model trains; they come with models trained from "
                   "this version of the app.")
        return
    show_table(pd.DataFrame(comparison.rows), hide_index=True, placeholder="",
               column_config={
        "model": st.column_config.TextColumn("model"),
        "accuracy": st.column_config.NumberColumn("test accuracy", format="%.1f%%"),
        "points": st.column_config.NumberColumn(
            "vs model", format="%+.1f points",
            help="the baseline's test accuracy minus this model's, in percentage points: "
                 "below zero, the model does better"),
        "macro_f1": st.column_config.NumberColumn(
            "macro F1", format="%.3f", help="F1 per class, averaged with every class counting "
                                            "the same"),
        "log_loss": st.column_config.NumberColumn(
            "log loss", format="%.4f", help="mean of -log P(true class); lower is better")})
    st.caption(comparison.note + ("" if own_rows else
                                  " This model's row is as measured when it trained, on those "
                                  "same rows; the accuracy above is on the rows split on "
                                  "Data."))
    if comparison.warning:
        st.info(comparison.warning, icon=":material/info:")


def members_section(members: dict | None, rows: int) -> None:
    """An ensemble's spread over its members (nothing for a single network)."""
    if not members:
        return
    st.markdown(f"**The ensemble's members.** {members_line(members)}, on the test rows.")
    st.plotly_chart(plots.members_figure(members), key="members_chart")
    st.caption("Each dot is one member, trained inside the ensemble and scored alone; the "
               "dashed line is the ensemble. The spread is how much a single network's "
               f"accuracy owes to luck (its initial weights); {one_row_points(rows)}.")


def per_class_section(per_class: list[dict], averages: dict, where: str) -> None:
    """Table (with macro and weighted rows), accuracy bars, and weak classes in words."""
    rows = [{"class": r["name"], "correct": r["correct"], "wrong": r["wrong"],
             "accuracy": 100 * r["accuracy"], "precision": r["precision"],
             "recall": r["recall"], "F1": r["f1"], "support": r["support"]} for r in per_class]
    total = sum(r["support"] for r in per_class)
    for name in ("macro", "weighted"):  # the accuracy of averaged recall: macro = mean per
        a = averages.get(name)          # class, weighted = overall accuracy
        if a:
            rows.append({"class": f"{name} average", "correct": None, "wrong": None,
                         "accuracy": 100 * a["recall"], "precision": a["precision"],
                         "recall": a["recall"], "F1": a["f1"], "support": total})
    frame = pd.DataFrame(rows).astype({"correct": "Int64", "wrong": "Int64"})
    table, chart = st.columns([3, 2])
    show_table(frame, table, hide_index=True, width="stretch", placeholder="",  # averages
               column_config={
        "accuracy": st.column_config.NumberColumn(
            format="%.1f%%", help="correct / support (= recall); macro: the mean over "
                                  "classes; weighted: the overall accuracy"),
        "precision": st.column_config.NumberColumn(
            format="%.3f", help="of the rows predicted as this class, the share that are"),
        "recall": st.column_config.NumberColumn(
            format="%.3f", help="of the rows of this class, the share found"),
        "F1": st.column_config.NumberColumn(format="%.3f",
                                            help="harmonic mean of precision and recall"),
        "support": st.column_config.NumberColumn(help=f"{where} rows of this class")})
    table.caption("Macro average: the plain mean over classes (every class counts the same). "
                  "Weighted average: weighted by support (big classes count more).")
    chart.plotly_chart(plots.per_class_accuracy_figure(per_class), key="per_class_chart")
    notes = []
    for r in per_class:
        if r["support"] and r.get("predicted", 1) == 0:
            notes.append(f"The model never predicts **{r['name']}**: all {r['support']} "
                         f"{where} rows of that class are given another class.")
        elif r["support"] and r["correct"] == 0:
            notes.append(f"**{r['name']}** is always wrong: none of its {r['support']} "
                         f"{where} rows is predicted correctly.")
    if notes:
        st.warning("  \n".join(notes), icon=":material/warning:")
    else:
        weakest = min(per_class, key=lambda r: (r["accuracy"], r["name"]))
        st.caption(f"Every class is predicted and gets some rows right; the weakest is "
                   f"**{weakest['name']}** ({weakest['correct']} of {weakest['support']} "
                   f"correct, {weakest['accuracy']:.1%}).")


def curves_section() -> None:
    st.subheader("Training curves")
    history = bundle.history or {}
    if history.get("epochs"):
        st.plotly_chart(plots.curves_figure(history), key="curves")
        st.caption(f"{len(history['epochs'])} epochs"
                   + (f" on {history['device']}" if history.get("device") else "")
                   + {"early": f"; stopped early, best validation loss at epoch "
                               f"{history.get('best_epoch')}",
                      "user": "; stopped by you"}.get(history.get("stopped") or "", "")
                   + f". The {history.get('eval_name') or 'evaluation'} curve is measured on "
                     "rows the network does not train on: when it turns up while train keeps "
                     "going down, the network is overfitting.")
    else:
        st.caption("This bundle holds no training history.")


# --------------------------------------------------------------------- stored metrics only
if not current.reports:
    stored = bundle.metrics or {}
    data = state.dataset()
    st.info("This model came from a file without its rows, so this page shows the metrics "
            "stored in the bundle when it was trained. For the full view (rows behind each "
            "confusion cell, a movable threshold, decision regions) load a table with the "
            f"model's columns ({', '.join(bundle.schema.names)}) on **Data** and evaluate "
            "the model on it here.", icon=":material/info:")
    if data is None:
        st.page_link("views/data.py", label="Load a table on Data", icon=":material/table:")
    elif st.button(f"Evaluate on {data.name}", type="primary"):
        model_state, note = state.model_from_bundle(bundle, current.origin)
        state.set_model(model_state)
        st.session_state["evaluate_note"] = note
        st.rerun()
    if st.session_state.get("evaluate_note"):
        st.caption(st.session_state["evaluate_note"])
    parts = [p for p in ("test", "train", "validation") if isinstance(stored.get(p), dict)]
    if not parts:
        st.warning("The bundle holds no stored metrics either.")
        curves_section()
        st.stop()
    accuracy_section({p: stored[p] for p in parts})
    baselines_section(stored, own_rows=True)
    stored_test = stored.get("test") or {}
    members_section(stored_test.get("members"), stored_test.get("n", 0))
    if "search" in stored:
        search_section(stored["search"])
    part = st.radio("Rows", parts, horizontal=True, key=f"eval_stored_part_{current.key}",
                    format_func=lambda p: f"{PART_TITLES[p]} ({stored[p]['n']} rows)")
    metrics = stored[part]
    st.subheader(f"Per class ({part} rows)")
    per_class_section(metrics.get("per_class", []),
                      {k: metrics[k] for k in ("macro", "weighted") if k in metrics}, part)
    if metrics.get("confusion"):
        st.subheader("Confusion matrix")
        normalize = st.toggle("Row percentages", key=f"eval_stored_norm_{current.key}")
        st.plotly_chart(plots.confusion_figure(metrics["confusion"], names, normalize,
                                               f"Confusion matrix, {part} rows"),
                        key="stored_confusion")
    if metrics.get("binary"):
        b = metrics["binary"]
        st.subheader(f"Two classes: positive = {b['positive']}")
        st.caption(f"At threshold {b['threshold']:.2f}: TP {b['tp']} · FP {b['fp']} · "
                   f"FN {b['fn']} · TN {b['tn']}")
        left, right = st.columns(2)
        left.plotly_chart(plots.roc_figure(b["roc"], b["threshold"]), key="stored_roc")
        right.plotly_chart(plots.pr_figure(b["pr"], b["threshold"]), key="stored_pr")
    curves_section()
    st.stop()

# --------------------------------------------------------------------- the full view
reports, frames = current.reports, current.parts
if current.origin != "trained here" and state.dataset() is not None:
    st.caption(f"Evaluated on {state.dataset().name}, split as set on Data. If this model was "
               "trained on another split, some of these test rows may be rows it trained on.")
accuracy_section({p: {"accuracy": r.accuracy, "n": r.n, "n_correct": r.n_correct,
                      "log_loss": r.log_loss} for p, r in reports.items()})
baselines_section(bundle.metrics or {}, own_rows=current.origin == "trained here" or
                  same_test_rows(bundle.metrics or {}, reports.get("test")))
if "test" in reports:
    members_section(reports["test"].members(), reports["test"].n)
if "search" in (bundle.metrics or {}):
    search_section(bundle.metrics["search"])

parts = [p for p in ("test", "train", "validation") if p in reports]
binary = len(names) == 2
controls = st.columns([2, 3] if binary else [1])
part = controls[0].radio("Rows to examine", parts, horizontal=True,
                         key=f"eval_part_{current.key}", persist_state="session",
                         format_func=lambda p: f"{PART_TITLES[p]} ({reports[p].n} rows)",
                         help="Test rows were held out from training: they show how the model "
                              "does on new rows. Train rows show how well it fits.")
report = reports[part]
saved = bundle.threshold
threshold = saved
if binary:
    threshold = controls[1].slider(
        f"Decision threshold: predict {names[1]} when P({names[1]}) ≥", 0.01, 0.99,
        round(saved, 2), 0.01, key=f"eval_threshold_{current.key}", persist_state="session",
        help="Lower it to catch more rows of the positive class (higher recall) at the price "
             "of more false alarms (lower precision). The saved threshold is the one Predict, "
             "the bundle and the ONNX file decide with.")
    report = report.at_threshold(threshold)
at = f", threshold {threshold:.2f}" if binary else ""

if binary and threshold != saved:
    note, button = st.columns([3, 1], vertical_alignment="center")
    note.markdown(f"**At threshold {threshold:.2f}:** {report.summary()} on the {part} rows "
                  f"(at the saved {saved:.2f}: {reports[part].summary()}).")
    if button.button(f"Save this threshold ({threshold:.2f})", type="primary",
                     key="save_threshold", icon=":material/save:", width="stretch",
                     help="Predict, batch predict, the bundle and the ONNX download will "
                          f"predict {names[1]} when P({names[1]}) ≥ {threshold:.2f}"):
        state.save_threshold(current, threshold)
        st.session_state["threshold_saved"] = threshold
        st.rerun()
elif binary:
    note = st.session_state.pop("threshold_saved", None)
    st.caption(f"Threshold {saved:.2f} is saved with the model: Predict, the bundle and the "
               "ONNX download decide with it." if note is None else
               f"Saved: the model now predicts **{names[1]}** when P({names[1]}) ≥ "
               f"{saved:.2f}, on Predict, in batch predict, in the bundle and in the ONNX file.")

st.subheader(f"Per class ({part} rows{at})")
per_class_section(report.per_class(), report.averages(), part)

# confusion matrix and the rows behind a cell
st.subheader("Confusion matrix")
matrix, side = st.columns([3, 2], gap="large")
side.caption("Rows are the actual class, columns the predicted class; the diagonal is "
             "correct. Click a cell, or choose the two classes here, to list the rows behind "
             "it below.")
normalize = side.toggle("Row percentages (share of each actual class)",
                        key=f"eval_norm_{current.key}", persist_state="session")
figure = plots.confusion_figure(report.confusion.tolist(), names, normalize,
                                f"Confusion matrix, {part} rows{at}", clickable=True)
event = matrix.plotly_chart(figure, on_select="rerun", selection_mode="points",
                            key=f"confusion_{current.key}_{part}_{normalize}_{threshold}")
actual_key, predicted_key = f"cell_actual_{current.key}", f"cell_predicted_{current.key}"
clicked = [tuple(int(v) for v in p["customdata"])
           for p in (event.selection.points if event else []) if p.get("customdata")]
if not clicked:
    st.session_state.pop("cell_clicked", None)
elif st.session_state.get("cell_clicked") != clicked[0]:  # a new click moves the selects
    st.session_state["cell_clicked"] = clicked[0]
    st.session_state[actual_key] = names[clicked[0][0]]
    st.session_state[predicted_key] = names[clicked[0][1]]
if actual_key not in st.session_state:  # start on the most common mistake, if any
    mistakes = [(int(report.confusion[i, j]), -i, -j) for i in range(len(names))
                for j in range(len(names)) if i != j and report.confusion[i, j]]
    _, i, j = max(mistakes) if mistakes else (0, 0, 0)
    st.session_state[actual_key], st.session_state[predicted_key] = names[-i], names[-j]
actual = side.selectbox("Actual class", names, key=actual_key, persist_state="session")
predicted = side.selectbox("Predicted class", names, key=predicted_key, persist_state="session")
a, p = names.index(actual), names.index(predicted)
positions = report.cell_positions(a, p)
what = "correctly predicted" if a == p else f"predicted as **{predicted}**"
side.markdown(f"**{len(positions)}** {part} row{'' if len(positions) == 1 else 's'} of class "
              f"**{actual}** {what}"
              + (", listed below." if positions else "."))
if positions:
    rows = frames[part].iloc[positions].copy()
    rows["predicted"] = [names[k] for k in report.predicted[positions]]
    for k, name in enumerate(names):
        rows[f"P({name})"] = report.probabilities[positions, k].round(4)
    show_table(rows, width="stretch",
               column_config={f"P({n})": st.column_config.ProgressColumn(
                   f"P({n})", format="%.3f", min_value=0.0, max_value=1.0) for n in names})
    st.caption(f"Rows of class {actual} predicted as {predicted}, as they are in the file "
               "(index = line number), with the predicted probabilities.")

# two classes: ROC and PR with the threshold marked
if binary:
    b = report.binary()
    st.subheader(f"Two classes: positive = {b['positive']}")
    positive = report.per_class()[1]
    st.markdown(f"At threshold **{threshold:.2f}**: true positives **{b['tp']}**, false "
                f"positives **{b['fp']}**, false negatives **{b['fn']}**, true negatives "
                f"**{b['tn']}** · precision {positive['precision']:.3f}, recall "
                f"{positive['recall']:.3f}, F1 {positive['f1']:.3f} for {b['positive']}.")
    left, right = st.columns(2)
    left.plotly_chart(plots.roc_figure(b["roc"], threshold), key="roc")
    right.plotly_chart(plots.pr_figure(b["pr"], threshold), key="pr")
    st.caption("The red dot is the current threshold. AUC is the chance that a random "
               f"{names[1]} row gets a higher P({names[1]}) than a random {names[0]} row; "
               "AP (average precision) summarises the precision-recall curve.")

# permutation importance on the held-out rows
st.subheader("Feature importance")
held_out = "test" if "test" in frames else part
cache = st.session_state.setdefault("importance", {})
stored = bundle.metrics.get("importance") if current.origin == "trained here" else None
if current.key not in cache:  # measured by the training job on these test rows, or now
    cache.clear()
    with st.spinner(f"Shuffling each column of the {held_out} rows, 5 times…"):
        cache[current.key] = [Importance(**i) for i in stored] if stored else \
            held_out_importance(bundle, frames[held_out])
found = cache[current.key]
st.plotly_chart(explain_figures.importance_figure([i.column for i in found], [i.mean for i in found],
                                        [i.sd for i in found]), key="importance")
st.caption(f"How many points of accuracy the model loses on the {held_out} rows (at most "
           f"{MAX_ROWS:,}) when one column's values are shuffled among them, breaking its link "
           "with the label: the mean of 5 shuffles, with their spread as the bar's whiskers. "
           "Near zero: the model barely uses that column (or another column carries the same "
           "information).")

# decision regions over two numeric features
st.subheader("Decision regions")
numeric = [c.name for c in bundle.encoder.columns if c.kind == "numeric"]
if len(numeric) < 2:
    st.caption(f"Decision regions need two numeric features; this model has {len(numeric)}"
               + (f" ({numeric[0]})." if numeric else "."))
else:
    pick_x, pick_y, _ = st.columns([1, 1, 2])
    x = pick_x.selectbox("Horizontal axis", numeric, index=0, key=f"db_x_{current.key}",
                         persist_state="session")
    y = pick_y.selectbox("Vertical axis", numeric, index=1, key=f"db_y_{current.key}",
                         persist_state="session")
    if x == y:
        st.warning("Pick two different features.")
    else:
        cache = st.session_state.setdefault("decision_grids", {})
        grid_key = (current.key, x, y)
        if grid_key not in cache:
            cache.clear()
            cache[grid_key] = current.predictor.decision_grid(frames["train"], x, y, steps=120)
        shown = frames.get("test", frames[part])
        values = pd.DataFrame({"x": numeric_values(shown[x]), "y": numeric_values(shown[y]),
                               "label": shown[bundle.encoder.label].astype(str)}).dropna()
        st.plotly_chart(explain_figures.decision_boundary_figure(cache[grid_key], {
            "x": values["x"].tolist(), "y": values["y"].tolist(),
            "label": values["label"].tolist()}), key="decision")
        others = len(bundle.encoder.input_columns) - 2
        st.caption("Coloured regions: the class the model predicts at each point; dots: the "
                   "test rows in their actual class colour. "
                   + ("These are the model's only two features, so this is the whole picture."
                      if not others else
                      f"The other {others} feature{'s are' if others > 1 else ' is'} held at "
                      "the training median (numbers) or most frequent value (categories), so "
                      "dots may sit in another colour's region because their other values "
                      "differ."))

curves_section()
st.page_link("views/predict.py", label="Next: predict new rows", icon=":material/arrow_forward:")

share.share_box(current, "evaluate")
