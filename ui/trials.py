"""A search's trials as one table: on Train while the search runs, on Evaluate for a model
a search chose (from the records its bundle keeps)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from mlcore.search import TrialRecord, stored_trials


def trials_table(records: list[TrialRecord], key: str, best: int | None = None) -> None:
    """The trials, best validation accuracy first; `best` marks the trial that is the
    model (None while the search runs)."""
    frame = pd.DataFrame([{
        "trial": t.number, "state": t.state + (" · the model" if t.number == best else ""),
        "validation accuracy": t.validation_accuracy, "epochs": t.epochs_run,
        "seconds": round(t.seconds, 1), "kept as a run": t.kept, "recipe": t.params_text()}
        for t in records])
    st.dataframe(frame.sort_values("validation accuracy", ascending=False,
                                   na_position="last"),
                 hide_index=True, key=key, column_config={
                     "validation accuracy": st.column_config.NumberColumn(format="percent")})


def search_section(found: object) -> None:
    """Evaluate's account of the search that chose this model (a bundle's own record:
    one sentence when it is not readable)."""
    st.subheader("The search that chose this model")
    try:
        records, best = stored_trials(found)
    except ValueError as err:
        st.caption(f"The bundle says a search chose it, but {err}.")
        return
    pruned = sum(t.state == "pruned" for t in records)
    st.caption(f"{len(records)} trials ({pruned} pruned: stopped early as unpromising), each "
               f"scored on the validation rows; trial {best.number} had the best validation "
               "accuracy and is this model. The test rows were used once, by it.")
    trials_table(records, "evaluate_trials", best.number)
