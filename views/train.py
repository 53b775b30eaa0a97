"""Train page: design the network, train it in the background, watch it learn."""
from dataclasses import asdict

import pandas as pd
import streamlit as st
import torch

from mlcore import plots
from mlcore.checkpoint import KEEP, list_checkpoints
from mlcore.errors import LimitError, StudioError
from mlcore.estimate import MAX_EPOCHS, duration_text, training_seconds
from mlcore.job import JobState, resume_point
from mlcore.model import ACTIVATIONS, ModelConfig, check_size
from mlcore.schema import validate, with_bins
from mlcore.training import OPTIMIZERS, TrainConfig
from mlcore.workflow import prepare
from ui import state
from ui.failures import guarded
from ui.settings import remember, remember_choice

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
defaults_m, defaults_t = ModelConfig(), TrainConfig()

net, opt = st.columns(2)
with net:
    st.markdown("#### Network")
    if base:
        st.info(f"The network, its weights and the encoding come from the imported model: "
                f"{base.architecture} {base.model_config.activation}.")
    fixed = bool(base)  # continuing an imported model: its network, not these settings
    hidden_text = remember(st.text_input, "Hidden layers", "hidden", "16,16", disabled=fixed,
                           help="Sizes of the hidden layers, comma-separated: 10,10 is two "
                                "layers of 10 units")
    activation = remember_choice("Activation", "activation", list(ACTIVATIONS),
                                 defaults_m.activation, disabled=fixed,
                                 help="Non-linearity after each hidden layer; tanh as in the "
                                      "articles, relu for deeper nets")
    dropout = remember(st.slider, "Dropout", "dropout", 0.0, min_value=0.0, max_value=0.5,
                       step=0.05, disabled=fixed,
                       help="Share of hidden units dropped at random while training; fights "
                            "overfitting on small tables")
    head = "softmax"
    if n_classes == 2:
        head = remember_choice("Output for two classes", "binary_head", ["softmax", "sigmoid"],
                               defaults_m.binary_head, disabled=fixed, format_func={
                                   "softmax": "two outputs, softmax + cross-entropy",
                                   "sigmoid": "one output, sigmoid + BCE"}.get,
                               help="Both give P(class); two outputs is our default")
with opt:
    st.markdown("#### Training")
    optimizer = remember_choice("Optimizer", "optimizer", list(OPTIMIZERS),
                                defaults_t.optimizer,
                                help="adam adapts step sizes and is the safe default; "
                                     "sgd is the articles' choice")
    left, right = st.columns(2)
    lr = remember(left.number_input, "Learning rate", "lr", defaults_t.lr, min_value=1e-5,
                  max_value=1.0, format="%.4f", help="Size of each weight update")
    momentum = remember(right.number_input, "Momentum (sgd)", "momentum", defaults_t.momentum,
                        min_value=0.0, max_value=0.99, disabled=optimizer != "sgd",
                        help="Keeps part of the last update; only used by sgd")
    batch = remember(left.number_input, "Batch size", "batch", defaults_t.batch_size,
                     min_value=1, max_value=4096, help="Rows per weight update")
    epochs = remember(right.number_input, "Epochs", "epochs", defaults_t.epochs,
                      min_value=1, help=f"Passes over the training rows (at most "
                                        f"{MAX_EPOCHS:,})")
    decay = remember(left.number_input, "Weight decay", "decay", 0.0, min_value=0.0,
                     max_value=0.1, format="%.4f", help="Pulls weights toward zero "
                                                         "(L2); 0 turns it off")
    seed = remember(right.number_input, "Seed", "seed", 1, min_value=0, max_value=10**6,
                    help="Same seed, same settings: the same model, bit for bit")
    patience = remember(left.number_input, "Early stopping patience", "patience", 0,
                        min_value=0, max_value=1000, help="Stop after this many epochs "
                        "without a better validation loss; 0 = off")
    val_fraction = remember(right.number_input, "Validation fraction", "val_fraction", 0.2,
                            min_value=0.05, max_value=0.5, step=0.05,
                            disabled=not patience, help="Share of the training rows held "
                            "out to decide when to stop (used with early stopping)")
    every = remember(left.number_input, "Checkpoint every N epochs", "every", 10,
                     min_value=0, max_value=1000, help="Save model + optimizer + RNG "
                     "states to resume from; 0 = never")
    devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    device = remember_choice("Device", "device", devices, "auto",
                             help="auto: a CUDA GPU when there is one, else the CPU")

if epochs > MAX_EPOCHS:  # said, and Train blocked: never clipped in silence
    st.error(f"Epochs: at most {MAX_EPOCHS:,}; you asked for {int(epochs):,}.")
    st.stop()
try:
    model_config = base.model_config if base else ModelConfig(
        tuple(int(h) for h in hidden_text.split(",") if h.strip()), activation, dropout, head)
    train_config = TrainConfig(optimizer, lr, momentum, int(batch), int(epochs), decay,
                               int(seed), int(patience), int(every), device)
except ValueError as err:
    st.error(f"Check the settings: {err}")
    st.stop()
try:  # counted by arithmetic (planned_parameters), never by building the network
    parameters = check_size(n_features, n_classes, model_config, "This network")
except LimitError as err:  # over the parameter budget: nothing to train or check
    st.error(str(err))
    st.stop()
st.markdown(f"**Network:** `{model_config.describe(n_features, n_classes)}` · "
            f"{activation} · {parameters:,} trainable parameters · logits out, "
            + ("sigmoid" if model_config.outputs(n_classes) == 1 else "softmax")
            + " applied only when predicting")
rows = len(data.frame)
train_rows = rows if data.test_table else int(rows * (1 - data.test_fraction))
held = (len(data.test_table.frame) if data.test_table else rows - train_rows)
if patience:
    train_rows, held = int(train_rows * (1 - val_fraction)), int(train_rows * val_fraction)
estimate = training_seconds(parameters, train_rows, held, int(batch), int(epochs))
st.caption(f"{int(epochs):,} epochs over {train_rows:,} training rows, batch {int(batch):,}: "
           f"{duration_text(estimate)} on one CPU thread (a rough estimate; a job stops "
           f"at {state.manager().limits.wall_s / 60:,.0f} min).")

job = state.job()
check_job = state.job("check")
busy = state.busy()


def start(resume=None) -> None:
    """Prepare the rows and queue a training job (one at a time per session)."""
    try:
        with st.spinner(f"Encoding {len(data.frame):,} rows…"):
            prepared = prepare(data.frame, base.schema if base else data.schema,
                               data.test_table.frame if data.test_table else None,
                               data.test_fraction, val_fraction if patience else 0.0,
                               data.seed, data.scaling, data.name,
                               base.encoder if base else None)
        first, done = resume_point(resume) if resume else (0, [])
        state.submit("job", "fit", {
            "prepared": prepared, "model_config": model_config, "train_config": train_config,
            "checkpoint_dir": resume.parent if resume else state.new_run_dir(),
            "resume": resume, "initial_state": base.state_dict if base else None},
            total_epochs=train_config.epochs, first_epoch=first, epochs=done)
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
            "n_classes": n_classes, "model_config": model_config, "device": device})
    except StudioError as err:
        st.session_state["train_error"] = str(err)


go, stop, check = st.columns([1, 1, 2])
if go.button("Train", type="primary", disabled=busy, width="stretch"):
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
        reports = run.reports
        how = "Finished" if current.state == JobState.FINISHED else (
            f"Stopped: {current.message}," if current.message else "Stopped by you")
        if run.history.stopped == "early":
            how = f"Stopped early (best validation loss at epoch {run.history.best_epoch})"
        st.success(f"{how} after {len(run.history.epochs)} epochs on "
                   f"{run.history.device}. Train: {reports['train'].summary()} · "
                   f"Test: {reports['test'].summary()}")
        st.page_link("views/evaluate.py", label="See the full evaluation",
                     icon=":material/analytics:")
        state.model()  # adopt it as the current model (and record it), once it is shown
        if st.session_state.get("record_note"):  # e.g. the workspace's quota is full
            st.warning(st.session_state["record_note"])


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
                     help=f"Continues to epoch {int(epochs)} with the settings above; the "
                          "result is bit-identical to a run never interrupted"):
            start(next(c.path for c in found if c.epoch == pick))
            st.rerun()
