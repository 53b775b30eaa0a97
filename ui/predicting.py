"""The Predict tabs for a model: one row in a form (with why), or a whole file of rows.
The Predict page and a shared model's page both draw them."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from mlcore import explain_figures
from mlcore.encoder import MISSING_LEVEL, ColumnEncoding
from mlcore.errors import StudioError
from mlcore.explain import prediction_effects
from mlcore.predict import Predictor
from mlcore.table import frame_to_text
from mlcore.workflow import read_like

from . import state
from .display import show_table


def predict_tabs(current: state.ModelState, rule_hint: str = " (change it on Evaluate)") -> None:
    """What the model predicts from, then the two tabs."""
    bundle = current.bundle
    encoder, names = bundle.encoder, list(bundle.class_names)
    columns = encoder.input_columns
    shown = ", ".join(columns) if len(columns) <= 8 else f"{len(columns)} columns"
    st.markdown(f"Model **{bundle.architecture}** predicting **{encoder.label}** "
                f"({', '.join(names[:12])}{', ...' if len(names) > 12 else ''}) from {shown} "
                f"· {current.origin}", help=", ".join(columns) if len(columns) > 8 else None)
    if len(names) == 2:
        st.caption(f"Predicts **{names[1]}** when P({names[1]}) ≥ {bundle.threshold:.2f}, else "
                   f"{names[0]}: the threshold saved with the model{rule_hint}.")
    one, batch = st.tabs(["One row", "A file of rows"])
    with one:
        one_row(current)
    with batch:
        file_of_rows(current)


def number_style(c: ColumnEncoding) -> tuple[float, str]:
    """A step of about 1/50 of the training range and enough decimals for its values."""
    span = c.high - c.low
    step = 10.0 ** math.floor(math.log10(span / 50)) if span > 0 else 1.0
    decimals = max(0, -math.floor(math.log10(step)))
    for value in (c.fill, c.low, c.high):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        decimals = max(decimals, len(text.split(".")[1]) if "." in text else 0)
    return step, f"%.{decimals}f"


def show_problems(problems: list, limit: int = 25) -> None:
    """Errors (row not predicted) and warnings (predicted, but look) as plain sentences."""
    for severity, box, lead in (("error", st.error, "not predicted"),
                                ("warning", st.warning, "predicted, but check")):
        found = [p for p in problems if p.severity == severity]
        if found:
            lines = [f"- {str(p)[0].upper()}{str(p)[1:]}" for p in found[:limit]]
            if len(found) > limit:
                lines.append(f"- … and {len(found) - limit} more")
            box(f"**{len(found)} problem{'s' if len(found) > 1 else ''} ({lead}):**\n"
                + "\n".join(lines), icon=":material/error:" if severity == "error"
                else ":material/warning:")


def form_field(c: ColumnEncoding, key: str):
    """One input of the form: a number at the training median, a date as text, or one of
    the categories seen in training (or missing)."""
    if c.kind == "numeric":
        step, fmt = number_style(c)
        value = st.number_input(
            c.name, value=float(c.fill), step=step, format=fmt, key=key,
            persist_state="session",
            help=f"Training range {c.low:g} to {c.high:g}; starts at the training median "
                 f"{c.fill:g}. Values far outside the range are flagged.")
        st.caption(f"training range {c.low:g} to {c.high:g}")
        return value
    if c.kind == "datetime":
        return st.text_input(c.name, key=key, persist_state="session",
                             placeholder="2024-03-05 14:07", help="An ISO date or date and "
                             "time; empty: missing") or None
    levels = [level for level in c.levels if level != MISSING_LEVEL]
    return st.selectbox(
        c.name, levels + [None], key=key, persist_state="session",
        format_func=lambda v: "(missing)" if v is None else v,
        help=f"{'Two values' if c.kind == 'binary' else 'Categories'} seen in training: "
             f"{', '.join(levels[:30])}{', ...' if len(levels) > 30 else ''}; or missing")


def why_this_prediction(predictor: Predictor, values: dict) -> None:
    """How each column moved the predicted class's probability, against its training
    default (what the model uses for a missing value)."""
    label, effects = prediction_effects(predictor, values)
    st.markdown("#### Why this prediction")
    st.plotly_chart(explain_figures.effects_figure([e.column for e in effects],
                                         [e.change for e in effects], label), key="one_why")
    st.caption(f"Each bar: P({label}) with this row's value minus P({label}) with that column "
               "alone replaced by its training default (the median for numbers, no category "
               "for categories), everything else kept. Bars to the right pushed towards "
               f"{label}.")


def one_row(current: state.ModelState) -> None:
    """The form: one field per column, the prediction, its probabilities and why."""
    bundle, predictor = current.bundle, current.predictor
    encoder, names = bundle.encoder, list(bundle.class_names)
    st.markdown("Fill in the values of one row. Categories offer the values seen in training; "
                "numbers start at the training median, with the training range beside them.")
    with st.form(f"predict_form_{current.key}"):
        inputs = list({c.name: c for c in encoder.columns}.values())  # a date: one field
        values = {}
        for start in range(0, len(inputs), 3):  # rows of three: on a phone they stack in order
            for c, cell in zip(inputs[start:start + 3], st.columns(3)):
                with cell:
                    values[c.name] = form_field(c, f"pf_{current.key}_{c.name}")
        submitted = st.form_submit_button("Predict", type="primary")
    if submitted:
        try:
            result = predictor.predict(values, strict=False)
        except StudioError as err:
            st.session_state["predict_one"] = (current.key, None, str(err))
        else:
            st.session_state["predict_one"] = (current.key, result, None)
    kept = st.session_state.get("predict_one")
    if kept and kept[0] == current.key:
        _, result, error = kept
        if error:
            st.error(f"Could not predict this row: {error}")
        else:
            show_problems(result.problems)
            if result.labels[0] is not None:
                probabilities = result.probabilities[0]
                label = result.labels[0]
                below = len(names) == 2 and label == names[0] and probabilities[1] > 0.5
                st.success(f"Predicted **{encoder.label}**: **{label}** "
                           f"(probability {probabilities[names.index(label)]:.1%})"
                           + (f"; P({names[1]}) is {probabilities[1]:.1%}, below the saved "
                              f"threshold {bundle.threshold:.2f}" if below else ""),
                           icon=":material/check_circle:")
                st.plotly_chart(explain_figures.probabilities_figure(names, probabilities.tolist()),
                                key="one_probabilities")
                why_this_prediction(predictor, values)



def file_of_rows(current: state.ModelState) -> None:
    """A file of rows: each labelled, problems per row, accuracy when labelled, downloads."""
    bundle, predictor = current.bundle, current.predictor
    encoder, names = bundle.encoder, list(bundle.class_names)
    st.markdown(f"Upload rows with the model's columns: a header line naming them, or no "
                f"header and the columns in the training order "
                f"({', '.join(bundle.schema.names)}; the label column **{encoder.label}** may "
                f"be left out). With the label present you also get the accuracy on the file.")
    upload = st.file_uploader("Rows to label", type=["tsv", "csv", "txt", "tab", "dat"],
                              key="predict_upload")
    unknown = st.radio("Categories the model never saw in training", ["error", "zeros"],
                       horizontal=True, key="predict_unknown", persist_state="session",
                       format_func={"error": "skip that row and say so",
                                    "zeros": "predict anyway (category encoded as zeros), "
                                             "with a warning"}.get)
    if upload is not None:
        try:
            table = read_like(upload.getvalue(), bundle.schema, upload.name,
                              limits=state.UPLOAD_LIMITS)
            result = predictor.predict(table.frame, unknown=unknown, strict=False)
        except StudioError as err:
            st.error(f"**Could not use {upload.name}.** {err}  \nFix the file and upload it "
                     "again.", icon=":material/error:")
        else:
            frame = table.frame
            out = pd.concat([frame, result.frame()], axis=1)
            out.index.name = frame.index.name or "row"
            messages = {}
            for p in result.problems:
                messages.setdefault(p.row, []).append(f"{p.column}: {p.message}" if p.column
                                                      else p.message)
            out["problem"] = [" · ".join(messages.get(i, [])) for i in out.index]
            done = sum(label is not None for label in result.labels)
            st.markdown(f"**{done} of {len(frame)} rows** of {upload.name} labelled"
                        + (f"; {len(frame) - done} could not be (see below)."
                           if done < len(frame) else "."))
            if encoder.label in frame.columns:
                report, left_out = result.score(frame[encoder.label])
                if report is None:
                    st.warning("The file has a label column, but no row has both a "
                               "prediction and a class the model knows, so there is no "
                               "accuracy to show.")
                else:
                    with st.container(border=True, width=420):
                        st.metric(f"Accuracy on {upload.name}", f"{report.accuracy:.2%}")
                        st.caption(f"{report.summary()}"
                                   + (f"; {left_out} rows left out (not predicted, or a "
                                      "class the model does not know)" if left_out else ""))
            show_problems(result.problems)
            show_table(out, width="stretch", column_config={
                f"P({n})": st.column_config.NumberColumn(format="%.4f") for n in names})
            download = out.reset_index()
            left, right, _ = st.columns([1, 1, 3])
            stem = upload.name.rsplit(".", 1)[0]
            left.download_button("Download as TSV", frame_to_text(download, "\t"),
                                 f"{stem}-predicted.tsv", "text/tab-separated-values",
                                 on_click="ignore", icon=":material/download:")
            right.download_button("Download as CSV", frame_to_text(download, ","),
                                  f"{stem}-predicted.csv", "text/csv", on_click="ignore",
                                  icon=":material/download:")
