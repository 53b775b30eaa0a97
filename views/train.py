"""Train page: design the network, train it in the background, watch it learn."""
from dataclasses import asdict

import pandas as pd
import streamlit as st

from mlcore import plots
from mlcore.checkpoint import KEEP, list_checkpoints
from mlcore.errors import LimitError, StudioError
from mlcore.estimate import duration_text, training_seconds
from mlcore.job import JobState, resume_point
from mlcore.model import check_size
from mlcore.schema import with_bins
from mlcore.validation import validate
from mlcore.workflow import prepare
from ui import state
from ui.failures import guarded
from ui.train_form import settings_form
from ui.trials import trials_table

st.title("Train")
st.caption("Step 2 of 5 · Design the network, train it, and watch loss and accuracy "
           "epoch by epoch.")

data = state.dataset()
if data is None:
    st.info("Load a table first: training needs rows and a label.")
    st.page_link("views/data.py", label="Go to Data", icon=":material/table:")
    st.stop()

current = state.model()
base = None  # an imported model to continue training, with its encoding and network
if current is not None and current.origin != "trained here":
    if list(data.frame.columns) == current.bundle.schema.names:
        if st.toggle(f"Continue training the model {current.origin} "
                     f"({current.bundle.architecture})", key="continue_imported",
                     help="Start from its weights, its encoding and its network instead of "
                          "a fresh network"):
            base = current.bundle
    else:
        st.caption(f"To continue training the model {current.origin}, load a table with its "
                   f"columns ({', '.join(current.bundle.schema.names)}).")

try:
    if not base:
        validate(data.frame, data.schema, data.name)
    encoder = base.encoder if base else data.encoder()
except StudioError as err:
    st.error(f"The dataset is not ready for training: {err}")
    st.page_link("views/data.py", label="Fix it on Data", icon=":material/table:")
    st.stop()
n_features, n_classes = encoder.n_features, len(encoder.class_names)
rows = len(data.frame)
train_rows = rows if data.test_table else int(rows * (1 - data.test_fraction))
held = len(data.test_table.frame) if data.test_table else rows - train_rows
limits = state.manager().limits
form = settings_form(data, train_rows, n_classes, base, limits.wall_s)
model_config, train_config = form.model, form.train
try:  # counted by arithmetic (planned_parameters), never by building the network
    parameters = check_size(n_features, n_classes, model_config, "This network")
except LimitError as err:  # over the parameter budget: nothing to train or check
    st.error(str(err))
    st.stop()
st.markdown(f"**Network:** `{model_config.describe(n_features, n_classes)}` · "
            f"{model_config.activation} · {parameters:,} trainable parameters · logits out, "
            + ("sigmoid" if model_config.outputs(n_classes) == 1 else "softmax")
            + " applied only when predicting")
if form.validation_fraction:
    train_rows, held = (int(train_rows * (1 - form.validation_fraction)),
                        int(train_rows * form.validation_fraction))


def cost_text(train_rows: int, held: int) -> str:
    """The run's (or the search's) size and estimated time, in one caption."""
    t = train_config
    seconds = training_seconds(parameters, train_rows, held, t.batch_size, t.epochs,
                               model_config.ensemble)
    text = (f"{t.epochs:,} epochs{' (fewer if it stops early)' if t.patience else ''} over "
            f"{train_rows:,} training rows, batch {t.batch_size:,}: {duration_text(seconds)} "
            "on one CPU thread")
    if form.mode == "search":
        text = (f"Up to {form.trials} trials, each at most {text}; "
                f"{form.timeout_s / 60:,.0f} min in all")
    return (text + f" (a rough estimate; a job stops at {limits.wall_s / 60:,.0f} min)."
            + ("" if form.validation_fraction else " With no validation set the curves "
               "show the test set: settings chosen by them are tuned to it."))


st.caption(cost_text(train_rows, held))
job = state.job()
check_job = state.job("check")
busy = state.busy()


def start(resume=None) -> None:
    """Prepare the rows and queue a training job or a search (one at a time per session)."""
    try:
        with st.spinner(f"Encoding {len(data.frame):,} rows…"):
            prepared = prepare(data.frame, base.schema if base else data.schema,
                               data.test_table.frame if data.test_table else None,
                               data.test_fraction, form.validation_fraction,
                               data.seed, data.scaling, data.name,
                               base.encoder if base else None)
        if form.mode == "search" and resume is None:
            state.submit("job", "search", {
                "prepared": prepared, "trials": form.trials, "timeout_s": form.timeout_s,
                "seed": train_config.seed, "model_config": model_config,
                "train_config": train_config, "refit": form.refit},
                total_epochs=train_config.epochs,
                total_trials=form.trials)
        else:
            first, done = resume_point(resume) if resume else (0, [])
            parent = state.run_of(job.id) if resume else None
            state.submit("job", "fit", {
                "prepared": prepared, "model_config": model_config,
                "train_config": train_config, "refit": form.refit,
                "checkpoint_dir": resume.parent if resume else state.new_run_dir(),
                "resume": resume, "initial_state": base.state_dict if base else None},
                parent=parent, total_epochs=train_config.epochs, first_epoch=first,
                epochs=done)
        st.session_state["job_data"] = state.data_of(data)
    except StudioError as err:
        st.session_state["train_error"] = str(err)
        return
    st.session_state.pop("train_error", None)


def start_check() -> None:
    """Queue the overfit check as a job: the server process never trains."""
    rows = with_bins(data.frame, data.schema)
    rows = rows.sample(min(len(rows), 2000), random_state=0)  # 32 are used: encode few
    try:
        state.submit("check", "overfit", {
            "X": encoder.transform(rows, "zeros"), "y": encoder.encode_labels(rows),
            "n_classes": n_classes, "model_config": model_config,
            "device": train_config.device})
    except StudioError as err:
        st.session_state["train_error"] = str(err)


go, stop, check = st.columns([1, 1, 2])
if go.button("Run the search" if form.mode == "search" else "Train", type="primary",
             disabled=busy, width="stretch"):
    start()
    st.rerun()
if stop.button("Stop", disabled=not busy, width="stretch"):
    for running in (job, check_job):
        if running is not None and running.active:
            state.manager().stop(running.id)
if check.button("Can it overfit 32 rows?", disabled=busy, width="stretch",
                help="A network that cannot memorise 32 rows has a bug that more epochs "
                     "will not fix"):
    start_check()
    st.rerun()
if "train_error" in st.session_state:
    st.error(st.session_state["train_error"])


@st.fragment(run_every=1.0 if busy else None)
def live() -> None:
    """The job's place, progress, curves and outcome, refreshed every second while it runs;
    the one part of this page that follows the job (the sidebar leaves it to this page)."""
    with guarded("the training progress"):
        ended = busy and not state.busy()
        check_result()
        progress()
        outcome()
        if ended:
            st.rerun()  # the outcome is drawn: now the whole page (sidebar, checkpoints)


def progress() -> None:
    """The job's place in the queue, or its progress bar and curves."""
    current = state.job()
    if current is None:
        return
    if current.state == JobState.QUEUED:
        st.info(f"Waiting for a free training slot (place {current.position} in the "
                "queue); the server trains a few models at a time.")
    eta = current.eta
    st.progress(current.progress, text=f"{current.where.capitalize()} · "
                f"{current.elapsed:.1f} s elapsed"
                + (f" · about {eta:.0f} s left" if eta is not None else "")
                + f" · {current.state.value}")
    if current.epochs:
        st.plotly_chart(curves(current), key="live_curves")
    if current.trials:
        st.markdown(f"**{'Trials so far' if current.active else 'Trials'}** "
                    f"({len(current.trials)}; pruned ones stopped early as unpromising)")
        trials_table(current.trials, "trials_table")


def curves(current) -> object:
    """The live curves, rebuilt only when epochs arrived since the last draw: the fragment
    reruns every second and a figure costs 0.05 to 0.15 s of the server's CPU to build."""
    key = (current.id, len(current.epochs), current.epochs[-1].epoch)
    cached = st.session_state.get("live_curves_figure")
    if cached is None or cached[0] != key:
        history = {"eval_name": current.prepared.eval_name,
                   "epochs": [asdict(e) for e in current.epochs]}
        cached = (key, plots.curves_figure(history))
        st.session_state["live_curves_figure"] = cached
    return cached[1]


def check_result() -> None:
    """The overfit check's place: waiting, its verdict, or why it did not run."""
    if check_job is None:
        return
    current = state.job("check")
    if current.state == JobState.QUEUED:
        st.info(f"The overfit check waits for a free training slot (place {current.position}).")
    elif current.active:
        st.info("Training on 32 rows…", icon=":material/hourglass_top:")
    elif current.result is not None:
        (st.success if current.result.passed else st.warning)(current.result.message)
    else:
        st.warning(f"The overfit check did not finish: {current.message}.")


def outcome() -> None:
    """How the job ended and, when it left a model, its accuracy (it becomes the model)."""
    current = state.job()
    if current is None or current.active:
        return
    run = current.result
    if current.state in (JobState.FAILED, JobState.EXPIRED):
        st.error(f"Training {current.state.value}: {current.message}.")
    elif run is None:
        st.info(f"Stopped: {current.message}; there is no model to keep from this run.")
    else:
        st.success(f"{ended_text(current, run)} Train: {run.reports['train'].summary()} · "
                   f"Test: {run.reports['test'].summary()}")
        st.page_link("views/evaluate.py", label="See the full evaluation",
                     icon=":material/analytics:")
        state.model()  # adopt it as the current model (and record it), once it is shown
        if st.session_state.get("record_note"):  # e.g. the workspace's quota is full
            st.warning(st.session_state["record_note"])


def ended_text(current, run) -> str:
    """The outcome's first sentence: how the run ended, after how many epochs, where; for a
    search, which trial became the model."""
    history = run.history
    how = "Finished" if current.state == JobState.FINISHED else (
        f"Stopped: {current.message}," if current.message else "Stopped by you")
    if history.stopped == "early":
        how = f"Stopped early (best validation loss at epoch {history.best_epoch})"
    text = f"{how} after {len(history.epochs)} epochs on {history.device}"
    if history.refit_epochs:
        text += (f", then refitted on the training + validation rows for "
                 f"{history.refit_epochs} epochs")
    if "search" in run.bundle.metrics:
        best = run.bundle.metrics["search"]["best"]
        text = (f"Search: {len(current.trials)} trials; the best, trial {best['number']} "
                f"(validation accuracy {best['validation_accuracy']:.1%}), is the model: "
                f"{run.bundle.architecture} {run.bundle.model_config.activation}. "
                f"It {text[0].lower()}{text[1:]}")
    return text + "."


live()

folder = job.args.get("checkpoint_dir") if job is not None else None
if folder is not None and folder.exists():
    found = list_checkpoints(folder)
    if found:
        st.markdown("#### Checkpoints")
        st.caption(f"Newest first; the last {KEEP} of this run are kept.")
        eval_name = job.prepared.eval_name
        st.dataframe(pd.DataFrame([{
            "epoch": c.epoch, "saved (UTC)": pd.Timestamp(c.saved_at, unit="s").strftime("%H:%M:%S"),
            "train loss": c.stats.get("train_loss"),
            "train accuracy": c.stats.get("train_accuracy"),
            f"{eval_name} accuracy": c.stats.get("eval_accuracy")} for c in found]),
            hide_index=True, column_config={
                name: st.column_config.NumberColumn(format="percent")
                for name in ("train accuracy", f"{eval_name} accuracy")})
        pick = st.selectbox("Resume from", [c.epoch for c in found],
                            format_func=lambda e: f"epoch {e}")
        if st.button("Resume from this checkpoint", disabled=busy,
                     help=f"Continues to epoch {train_config.epochs} with the settings above; the "
                          "result is bit-identical to a run never interrupted"):
            start(next(c.path for c in found if c.epoch == pick))
            st.rerun()
