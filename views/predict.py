"""Predict page: label new rows with the current model, one in a form or a whole file.
Input problems come back from mlcore as per-row messages, never as a traceback."""
import streamlit as st

from ui import guide, predicting, state

st.title("Predict")
st.caption("Step 4 of 5 · Label new rows with the model: one row in a form, or a whole file "
           "of rows at once (with the label column too, to see the accuracy on it).")

current = state.model()
if current is None:
    guide.no_model("This page labels new rows with a trained model: a form with one field per "
                   "column gives the predicted class and its probabilities, and an uploaded "
                   "file gets a predicted class per row, ready to download.",
                   "A model is training now; come back when it has finished.")
guide.stale(current)

predicting.predict_tabs(current)
