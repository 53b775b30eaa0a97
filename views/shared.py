"""A shared model's page (?model=TOKEN): the model card, a Predict form, batch predict and
the downloads, read-only. Never the training table; a bad token gets one sentence."""
import streamlit as st

from mlcore.bundle import bundle_to_zip
from mlcore.errors import StudioError
from mlcore.model_card import model_card
from mlcore.onnx_check import raw_onnx_bytes
from ui import predicting, state, workspace

token = st.query_params.get("model", "")
try:
    run, bundle = workspace.store().shared(token)
except StudioError as err:
    st.title("Shared model")
    st.error(str(err), icon=":material/link_off:")
    st.stop()

st.title(f"{bundle.encoder.label}: a shared classifier")
st.caption(f"Shared from Classifier Studio · trained on {run.data_name} · "
           f"{run.created:%Y-%m-%d %H:%M} UTC · read-only")
cached = st.session_state.get("shared_model")
if cached is None or cached[0] != token:  # built once per link and session
    try:
        onnx = raw_onnx_bytes(bundle)[0]
    except StudioError as err:
        onnx = str(err)
    cached = (token, state.ModelState(bundle, "shared with you"),
              bundle_to_zip(bundle, run.data_name), onnx)
    st.session_state["shared_model"] = cached
_, current, zipped, onnx = cached

card, use = st.tabs(["Model card", "Predict"])
with card:
    st.markdown(model_card(bundle, run.data_name))
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Download the bundle (.zip)", zipped,
                         f"{bundle.encoder.label}-classifier.zip", "application/zip",
                         on_click="ignore", icon=":material/download:", width="stretch")
    if isinstance(onnx, str):
        right.caption(f"No raw-input ONNX file for this model: {onnx}")
    else:
        right.download_button("Download model.onnx (raw input)", onnx, "model.onnx",
                              "application/octet-stream", on_click="ignore",
                              icon=":material/download:", width="stretch")
with use:
    predicting.predict_tabs(current, rule_hint="")
