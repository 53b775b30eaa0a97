"""Export page: take the model away (bundle .zip, bare state_dict, ONNX checked with
onnxruntime), with code to use each file; or bring a saved bundle back in."""
import json
import re
from datetime import datetime

import pandas as pd
import streamlit as st

from mlcore.bundle import (Bundle, bundle_from_zip, bundle_to_zip, load_bundle, save_bundle,
                           state_dict_bytes)
from mlcore.errors import StudioError
from mlcore.onnx_check import ATOL, RTOL, check_features, raw_onnx_bytes
from mlcore.onnx_export import onnx_bytes
from mlcore.onnx_raw import decision_rule, input_names
from ui import share, snippets, state

st.title("Export")
st.caption("Step 5 of 5 · Take the model with you, with a few lines of Python for each file, "
           "or bring a saved model back to evaluate it and predict with it.")


def adopt(bundle: Bundle, origin: str) -> None:
    """Make a loaded bundle the current model (evaluated on the loaded table if it fits)."""
    model_state, note = state.model_from_bundle(bundle, origin)
    state.set_model(model_state)
    st.session_state["import_message"] = (
        model_state.key, f"Loaded **{bundle.architecture}** predicting **{bundle.encoder.label}** "
                   f"({', '.join(bundle.class_names)}), {origin}. {note}")


def import_section() -> None:
    st.subheader("Import a saved model")
    st.caption("A bundle .zip downloaded from this page (bundle.json + model.pt). It is checked "
               "and read without unpickling anything: JSON and a weights-only tensor load.")
    upload = st.file_uploader("Bundle .zip", type=["zip"], key="import_zip")
    if upload is not None and st.session_state.get("imported_file") != upload.file_id:
        st.session_state["imported_file"] = upload.file_id
        try:
            bundle = bundle_from_zip(upload.getvalue(), upload.name)
        except StudioError as err:
            st.session_state["import_message"] = (
                "error", f"**Could not import {upload.name}.** {err}  \nChoose a .zip "
                         "downloaded from this page (it holds bundle.json and model.pt); "
                         "the current model is kept.")
        else:
            adopt(bundle, f"imported from {upload.name}")
            st.rerun()  # the sidebar and the page above show the new model
    folder = state.save_dir()
    saved = sorted(p.name for p in folder.iterdir() if (p / "bundle.json").is_file()) \
        if folder.is_dir() else []
    if saved:
        pick, go = st.columns([3, 1], vertical_alignment="bottom")
        name = pick.selectbox(f"Or load a model saved in {folder.name}/", saved,
                              key="load_saved_name")
        if go.button("Load", width="stretch"):
            try:
                adopt(load_bundle(folder / name), f"loaded from {folder.name}/{name}")
            except StudioError as err:
                st.session_state["import_message"] = ("error",
                                                      f"**Could not load {name}.** {err}")
            st.rerun()
    kind, text = st.session_state.get("import_message", (None, None))
    if kind == "error":
        st.error(text, icon=":material/error:")
    elif kind is not None and state.model() is not None and kind == state.model().key:
        st.success(text, icon=":material/check_circle:")
        st.page_link("views/evaluate.py", label="Evaluate it", icon=":material/analytics:")
        st.page_link("views/predict.py", label="Predict with it",
                     icon=":material/online_prediction:")


current = state.model()
if current is None:
    st.info("This page offers the trained model as files to take away: the bundle .zip "
            "(weights + everything needed to rebuild and use it), the bare PyTorch weights and "
            "an ONNX file checked against PyTorch, each with a short Python example. "
            "There is no model yet: "
            + ("train one first, or import a saved one below." if state.dataset() is not None
               else "load a table and train on it first, or import a saved one below."))
    if state.dataset() is None:
        st.page_link("views/data.py", label="Step 1: load a table on Data", icon=":material/table:")
    else:
        st.page_link("views/train.py", label="Step 2: train a model",
                     icon=":material/model_training:")
    import_section()
    st.stop()

bundle = current.bundle
encoder = bundle.encoder
names = list(bundle.class_names)
stem = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{encoder.label}-classifier").strip("-") or "classifier"
test_rows = current.parts.get("test")
table_rows = pd.concat(list(current.parts.values())) if current.parts else None

# The files, built once per model and kept for this session.
files = st.session_state.get("export_files")
if files is None or files["model"] != current.key:
    files = {"model": current.key, "zip": bundle_to_zip(bundle),
             "pt": state_dict_bytes(bundle)}
    with st.spinner("Exporting to ONNX and checking it with onnxruntime…"):
        try:
            files["onnx"], files["check"] = raw_onnx_bytes(bundle, table_rows)
        except StudioError as err:
            files["onnx"], files["error"] = None, str(err)
        try:
            files["net"], files["net_check"] = onnx_bytes(bundle,
                                                          check_features(bundle, table_rows))
        except StudioError as err:
            files["net"], files["net_error"] = None, str(err)
    st.session_state["export_files"] = files

test = bundle.metrics.get("test") or {}
st.markdown(f"Model **{bundle.architecture}** {bundle.model_config.activation} predicting "
            f"**{encoder.label}** ({', '.join(names)})"
            + (f", test accuracy {test['accuracy']:.2%}" if "accuracy" in test else "")
            + f" · {current.origin} · created {bundle.created.replace('T', ' ')[:16] or 'unknown'}")

zip_col, pt_col, onnx_col = st.columns(3)
with zip_col, st.container(border=True):
    st.markdown("**Bundle** `.zip`")
    st.caption("model.pt (weights) + bundle.json (columns, encoding, network, training "
               "settings, metrics, history, versions). Everything to rebuild and use the "
               "model; import it here again later.")
    st.download_button("Download the bundle", files["zip"], f"{stem}.zip", "application/zip",
                       on_click="ignore", icon=":material/download:", type="primary",
                       key="download_zip")
    st.caption(f"{len(files['zip']) / 1024:.1f} KB")
with pt_col, st.container(border=True):
    st.markdown("**Weights only** `model.pt`")
    st.caption("The bare PyTorch state_dict. It needs the network's definition to load: "
               "the snippet below gives it in plain PyTorch.")
    st.download_button("Download model.pt", files["pt"], "model.pt",
                       "application/octet-stream", on_click="ignore",
                       icon=":material/download:", key="download_pt")
    st.caption(f"{len(files['pt']) / 1024:.1f} KB")
with onnx_col, st.container(border=True):
    st.markdown("**ONNX** `model.onnx`")
    if files.get("onnx") is None:
        st.error(f"Not offered: {files.get('error')}", icon=":material/error:")
    else:
        check = files["check"]
        st.caption("For programs without PyTorch or mlcore: **raw values in** (one input per "
                   "column), label and probabilities out; the encoding is inside the graph.")
        st.download_button("Download model.onnx", files["onnx"], "model.onnx",
                           "application/octet-stream", on_click="ignore",
                           icon=":material/download:", key="download_onnx")
        st.caption(f"Label output: `{decision_rule(bundle)}`.")
        st.caption(f"Checked with onnxruntime {check.onnxruntime_version} on {check.rows:,} "
                   f"raw rows ({check.table_rows:,} of this table, {check.generated_rows:,} "
                   "generated: missing, unseen and extreme values): labels agree with the "
                   f"app's on **{check.labels_agree:,} of {check.rows:,}**, max probability "
                   f"difference **{check.max_abs_diff:.1e}** (allowed {ATOL:.0e} + "
                   f"{RTOL:.0e}×p, float32).")
    if files.get("net") is None:
        st.error(f"The network alone is not offered: {files.get('net_error')}",
                 icon=":material/error:")
    else:
        st.download_button("The network alone (encoded features in)", files["net"],
                           "model-features.onnx", "application/octet-stream",
                           on_click="ignore", icon=":material/download:", key="download_net")
        st.caption(f"model-features.onnx: max difference from PyTorch "
                   f"{files['net_check'].max_abs_diff:.1e} (opset {files['net_check'].opset}).")

# --------------------------------------------------------------------- how to use the files
example = snippets.example_row(bundle, test_rows)
row_text = snippets.row_literal(bundle, example)
encoded = encoder.transform(pd.DataFrame([example], dtype=object), "zeros")[0]

st.subheader("Use the files in Python")
use_zip, use_onnx, use_pt, use_net = st.tabs([
    "Bundle with mlcore", "model.onnx with onnxruntime", "model.pt with PyTorch",
    "model-features.onnx"])
with use_zip:
    st.caption("Needs this project's `mlcore` package (and PyTorch). Raw values in, as in the "
               "table; the bundle encodes them and checks them the way this app does.")
    st.code(snippets.mlcore_snippet(f"{stem}.zip", row_text), language="python")
with use_onnx:
    if files["onnx"] is None:  # no raw-input file for this model: say why, no snippet
        st.caption(f"No raw-input model.onnx for this model: {files['error']}.")
    else:
        st.caption("numpy and onnxruntime only, raw values in. For whole files, "
                   "`examples/predict_onnx.py model.onnx rows.tsv` does the same for every "
                   "row. Inputs: " + ", ".join(f"`{name}`" for name in
                                               input_names(bundle).values()) + ".")
        st.code(snippets.onnx_raw_snippet(bundle, row_text), language="python")
with use_pt:
    st.caption("Plain PyTorch, no mlcore: the network definition that fits these weights. It "
               "takes encoded features (see the last tab for the encoding); the numbers below "
               "are the example row encoded.")
    st.code(snippets.pytorch_snippet(bundle, row_text, encoded), language="python")
with use_net:
    st.caption("numpy and onnxruntime only, for the network-only graph: it takes **encoded** "
               f"features (float32, {encoder.n_features} per row). The encoding is stored in "
               "bundle.json, inside the bundle .zip; the `encode` function below applies it.")
    st.code(snippets.onnx_features_snippet(f"{stem}.zip", row_text), language="python")
    with st.expander("How the encoding is stored in bundle.json"):
        st.caption("`encoder.columns` in feature order: numeric columns are (x - center) / "
                   "scale with `fill` for a missing value; binary columns map `levels` to "
                   "-1 and +1; categorical columns become one 0/1 number per level.")
        stored = encoder.to_dict()
        columns = ",\n    ".join(json.dumps(c) for c in stored.pop("columns"))
        rest = json.dumps(stored)[1:-1]
        st.code(f'{{"encoder": {{\n  "columns": [\n    {columns}\n  ],\n  {rest}\n}}}}',
                language="json")

# --------------------------------------------------------------------- save on this machine
st.subheader("Save to the models folder")
folder = state.save_dir()
st.caption(f"Writes bundle.json and model.pt into a new folder under `{folder}` on the "
           "machine running this app: this browser session's own folder (another "
           "session, or this tab after a reload, does not list it); set STUDIO_SAVE_DIR "
           "to change where.")
default = st.session_state.setdefault(f"save_default_{current.key}",
                                      f"{stem}-{datetime.now():%Y%m%d-%H%M%S}")
name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
name = name_col.text_input("Folder name", default, key=f"save_name_{current.key}",
                           help="Letters, digits, dot, dash and underscore").strip()
if button_col.button("Save", width="stretch", key="save_button"):
    target = folder / name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        st.error("Use letters, digits, dot, dash and underscore for the folder name "
                 "(starting with a letter or digit).")
    elif target.exists():
        st.error(f"`{target}` already exists; choose another name.")
    else:
        try:
            save_bundle(bundle, target)
        except OSError as err:
            st.error(f"Could not save to `{target}`: {err.strerror or err}")
        else:
            st.success(f"Saved to `{target}` (bundle.json + model.pt). Load it with "
                       f'`load_bundle("{target}")`, or below.',
                       icon=":material/check_circle:")

share.share_box(current, "export")

import_section()
