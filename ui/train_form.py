"""The Train page's settings: a recipe (mlcore.presets) fills them in, the default one at
first; every value can then be changed, and each survives page switches (ui.settings)."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

from mlcore.estimate import MAX_EPOCHS
from mlcore.model import ACTIVATIONS, INITS, MAX_MEMBERS, ModelConfig
from mlcore.presets import PRESETS, Recipe, get_preset
from mlcore.search import MAX_TRIALS
from mlcore.training import OPTIMIZERS, TrainConfig
from ui.settings import fill, remember, remember_choice

RECIPE_TEXT = {"default": "default: 16 ReLU MLPs trained as one, AdamW, early stopping",
               "classic": "classic: the articles' 10-10 tanh, SGD, batch 10"}
LABELS = {"hidden": "hidden layers", "activation": "activation", "dropout": "dropout",
          "binary_head": "output", "members": "members", "init": "initial weights",
          "optimizer": "optimizer", "lr": "learning rate", "momentum": "momentum",
          "batch": "batch size", "epochs": "epochs", "decay": "weight decay",
          "patience": "patience", "val_fraction": "validation fraction", "refit": "refit"}
MODES = {"fit": "Train one model", "search": "Search the settings (Optuna)"}


@dataclass
class TrainSettings:
    """What the form asks for: the network, the training, the share of the training rows
    held out for validation (0: none), whether to refit, and a search's trials and time."""

    model: ModelConfig
    train: TrainConfig
    validation_fraction: float
    refit: bool
    mode: str = "fit"
    trials: int = 0
    timeout_s: float = 0.0


def recipe_values(recipe: Recipe) -> dict:
    """The form's values a recipe sets (the seed, checkpoints and device stay the user's)."""
    m, t = recipe.model, recipe.train
    return {"hidden": ",".join(str(h) for h in m.hidden), "activation": m.activation,
            "dropout": float(m.dropout), "binary_head": m.binary_head, "members": m.ensemble,
            "init": m.init, "optimizer": t.optimizer, "lr": float(t.lr),
            "momentum": float(t.momentum), "batch": t.batch_size, "epochs": t.epochs,
            "decay": float(t.weight_decay), "patience": t.patience,
            "val_fraction": float(recipe.validation_fraction), "refit": recipe.refit}


def recipe_picker(data, n_rows: int, n_classes: int) -> tuple[str, Recipe]:
    """The recipe selectbox: choosing one fills every field it sets (and the Data page's
    scaling); the fields stay editable. Its name and its recipe for this table."""
    def chosen() -> None:
        picked = get_preset(st.session_state["setting_recipe"], n_rows, n_classes)
        fill(recipe_values(picked))
        data.scaling = picked.scaling

    name = remember_choice("Recipe", "recipe", list(PRESETS), "default",
                           format_func=RECIPE_TEXT.get, on_change=chosen,
                           help="Fills in the settings below; change any of them after. "
                                "Figures for both: docs/benchmarks.md, Quality")
    return name, get_preset(name, n_rows, n_classes)


def changes(recipe_name: str, recipe: Recipe, values: dict, scaling: str) -> str:
    """One line: the settings that differ from the recipe, or that none do."""
    wanted = recipe_values(recipe)
    if values["optimizer"] != "sgd" and wanted["optimizer"] != "sgd":
        wanted["momentum"] = values["momentum"]  # unused by the other optimizers
    changed = [LABELS[key] for key, value in wanted.items() if values.get(key) != value]
    if scaling != recipe.scaling:
        changed.append(f"scaling ({scaling} on Data, the recipe's is {recipe.scaling})")
    if not changed:
        return f"The {recipe_name} recipe's settings, unchanged."
    return f"Changed from the {recipe_name} recipe: {', '.join(changed)}."


def network(initial: dict, n_classes: int, fixed: bool) -> dict:
    """The network's fields (disabled when continuing an imported model's network)."""
    values = {
        "hidden": remember(st.text_input, "Hidden layers", "hidden", initial["hidden"],
                           disabled=fixed, help="Sizes of the hidden layers, "
                           "comma-separated: 10,10 is two layers of 10 units"),
        "activation": remember_choice("Activation", "activation", list(ACTIVATIONS),
                                      initial["activation"], disabled=fixed,
                                      help="Non-linearity after each hidden layer"),
        "dropout": remember(st.slider, "Dropout", "dropout", initial["dropout"],
                            min_value=0.0, max_value=0.5, step=0.05, disabled=fixed,
                            help="Share of hidden units dropped at random while training"),
        "members": remember(st.number_input, "Ensemble members", "members",
                            initial["members"], min_value=1, max_value=MAX_MEMBERS,
                            disabled=fixed, help="K networks trained at once as one batched "
                            "network; a prediction averages their probabilities"),
        "init": remember_choice("Initial weights", "init", list(INITS), initial["init"],
                                disabled=fixed, format_func={
                                    "torch": "torch's default", "xavier": "Xavier, zero "
                                    "biases (the articles')"}.get),
        "binary_head": initial["binary_head"]}
    if n_classes == 2:
        values["binary_head"] = remember_choice(
            "Output for two classes", "binary_head", ["softmax", "sigmoid"],
            initial["binary_head"], disabled=fixed, format_func={
                "softmax": "two outputs, softmax + cross-entropy",
                "sigmoid": "one output, sigmoid + BCE"}.get,
            help="Both give P(class)")
    return values


def training(initial: dict) -> dict:
    """The training fields, in pairs: one row of two per pair, so that a phone, which
    stacks columns, still reads each pair together."""
    values = {"optimizer": remember_choice(
        "Optimizer", "optimizer", list(OPTIMIZERS), initial["optimizer"],
        help="adam/adamw adapt step sizes; sgd is the articles' choice")}
    number = {"lr": ("Learning rate", dict(min_value=1e-5, max_value=1.0, format="%.4f")),
              "momentum": ("Momentum (sgd)", dict(
                  min_value=0.0, max_value=0.99, disabled=values["optimizer"] != "sgd")),
              "batch": ("Batch size", dict(min_value=1, max_value=4096)),
              "epochs": ("Epochs", dict(min_value=1, help=f"Passes over the training rows "
                                                          f"(at most {MAX_EPOCHS:,})")),
              "decay": ("Weight decay", dict(min_value=0.0, max_value=0.1, format="%.4f",
                                             help="L2; 0 = off")),
              "patience": ("Early stopping patience", dict(
                  min_value=0, max_value=1000, help="Stop after this many epochs without a "
                  "better validation loss and keep the best epoch; 0 = off"))}
    for pair in (("lr", "momentum"), ("batch", "epochs"), ("decay", "patience")):
        for column, key in zip(st.columns(2), pair):
            label, options = number[key]
            values[key] = remember(column.number_input, label, key, initial[key], **options)
    return values | _held_out(initial, values["patience"])


def _held_out(initial: dict, patience: int) -> dict:
    """Validation fraction and refit, seed and checkpoints, device."""
    left, right = st.columns(2, vertical_alignment="bottom")
    val = remember(left.number_input, "Validation fraction", "val_fraction",
                   initial["val_fraction"], min_value=0.0, max_value=0.5, step=0.05,
                   help="Share of the training rows held out: the curves and early stopping "
                        "watch it, the test set waits for the end; 0 = none")
    refit = remember(right.checkbox, "Refit on all training rows", "refit", initial["refit"],
                     disabled=not (patience and val),
                     help="After early stopping, train again on training + validation rows "
                          "for the best epoch's count")
    left, right = st.columns(2)
    return {"val_fraction": val, "refit": refit,
            "seed": remember(left.number_input, "Seed", "seed", 1, min_value=0,
                             max_value=10**6, help="Same seed, same settings: the same model"),
            "every": remember(right.number_input, "Checkpoint every N epochs", "every", 10,
                              min_value=0, max_value=1000, help="0 = never"),
            "device": remember_choice("Device", "device", ["auto", "cpu"] + (
                ["cuda"] if torch.cuda.is_available() else []), "auto",
                help="auto: a CUDA GPU when there is one, else the CPU")}


def search_fields(wall_s: float) -> tuple[str, int, float]:
    """Train one model or search: the mode, and for a search its trials and time limit."""
    mode = remember_choice("Mode", "mode", list(MODES), "fit", widget=st.radio,
                           format_func=MODES.get, horizontal=True)
    if mode != "search":
        return mode, 0, 0.0
    left, right = st.columns(2)
    trials = remember(left.number_input, "Trials", "trials", 20, min_value=1,
                      max_value=MAX_TRIALS, help="Optuna proposes this many recipes around "
                      "the settings below, each scored on the validation set")
    most = max(1, int(wall_s // 60))  # a job's wall-time limit bounds the search too
    minutes = remember(right.number_input, "Time limit (minutes)", "search_minutes",
                       min(30, most), min_value=1, max_value=most,
                       help="The search stops here and keeps the best trial so far")
    return mode, int(trials), minutes * 60.0


def settings_form(data, n_rows: int, n_classes: int, base, wall_s: float) -> TrainSettings:
    """The whole form: recipe and mode, then the network beside the training; stops the
    page with one sentence when a setting cannot be trained."""
    pick, how = st.columns(2)
    with pick:
        name, recipe = recipe_picker(data, n_rows, n_classes)
    with how:
        mode, trials, timeout_s = search_fields(wall_s)
    initial = recipe_values(recipe)
    net, opt = st.columns(2)
    with net:
        st.markdown("#### Network")
        if base:
            st.info(f"The network, its weights and the encoding come from the imported "
                    f"model: {base.architecture} {base.model_config.activation}.")
        values = network(initial, n_classes, bool(base))
    with opt:
        st.markdown("#### Training")
        values |= training(initial)
    st.caption(changes(name, recipe, values, data.scaling))
    problem = _problem(values, mode)
    if problem:
        st.error(problem)
        st.stop()
    try:
        model, train = configs(values, base)
    except ValueError as err:
        st.error(f"Check the settings: {err}")
        st.stop()
    return TrainSettings(model, train, float(values["val_fraction"]),
                         bool(values["refit"] and values["patience"] and values["val_fraction"]),
                         mode, trials, timeout_s)


def _problem(values: dict, mode: str) -> str | None:
    """Why these settings cannot be trained, in one sentence, or None."""
    if values["epochs"] > MAX_EPOCHS:  # said, and Train blocked: never clipped in silence
        return f"Epochs: at most {MAX_EPOCHS:,}; you asked for {int(values['epochs']):,}."
    if not values["val_fraction"] and values["patience"]:
        return ("Early stopping watches the validation set: set a validation fraction "
                "above 0, or patience 0.")
    if not values["val_fraction"] and mode == "search":
        return ("A search scores its trials on the validation set: set a validation "
                "fraction above 0.")
    return None


def configs(values: dict, base) -> tuple[ModelConfig, TrainConfig]:
    """The form's values as configs (an imported model keeps its own network)."""
    model = base.model_config if base else ModelConfig(
        tuple(int(h) for h in values["hidden"].split(",") if h.strip()),
        values["activation"], values["dropout"], values["binary_head"],
        int(values["members"]), values["init"])
    train = TrainConfig(values["optimizer"], values["lr"], values["momentum"],
                        int(values["batch"]), int(values["epochs"]), values["decay"],
                        int(values["seed"]), int(values["patience"]), int(values["every"]),
                        values["device"])
    return model, train
