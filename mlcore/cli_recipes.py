"""The recipe side of the CLI: `train --preset default|classic` and every setting a preset
sets (network, training, scaling, validation fraction, refit), resolved against the flags
given in one place; `--ensemble K`; the spread (`--seeds N`, `--cv K`) and the members and
baselines beside a model; and the `search` command (Optuna trials scored on a validation
split, the best one saved as the bundle)."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from .baselines import TITLES
from .bundle import save_bundle
from .cli_reading import add_label_options, add_read_options, describe_prepared, read_phase
from .cli_runs import add_store_options, record_cli_run
from .device import DEVICES
from .encoder import SCALINGS
from .errors import SettingError
from .metrics import members_line
from .model import ACTIVATIONS, BINARY_HEADS, INITS, MAX_MEMBERS, ModelConfig
from .presets import PRESETS, Recipe, get_preset
from .schema import Schema
from .search import MAX_TIMEOUT_S, MAX_TRIALS, SearchResult, TrialRecord, search
from .spread import Spread, SpreadRun, cross_validate, fit_seeds
from .table import Table
from .tasks import finish_run
from .training import OPTIMIZERS, TrainConfig
from .workflow import Prepared, Run, prepare

MAX_SEEDS, MAX_FOLDS, MAX_CV_ROWS = 50, 20, 20_000
MODEL_FIELDS = ("hidden", "activation", "dropout", "binary_head", "ensemble", "init")
TRAIN_FIELDS = ("optimizer", "lr", "momentum", "batch_size", "epochs", "weight_decay",
                "patience")
RECIPE_FIELDS = MODEL_FIELDS + TRAIN_FIELDS + ("scaling", "validation_fraction", "refit")
PLAIN = Recipe(ModelConfig(), TrainConfig(), "zscore", 0.0, False)  # train without --preset
PRESET_TEXT = {"default": "the best recipe docs/benchmarks.md's Quality section found",
               "classic": "the articles' recipe"}


class Given(argparse.Action):
    """Stores a flag's value (or its const, for a flag without a value) and notes it in
    `namespace.given` (dest -> the option typed), so a preset yields only to flags given."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        namespace.given = {**getattr(namespace, "given", {}), self.dest: option_string}


def hidden_sizes(text: str) -> tuple[int, ...]:
    """--hidden 10,10 -> (10, 10)."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden wants sizes like 10,10 (got '{text}')")


def _adder(parser: argparse.ArgumentParser, whose: str = "without --preset"):
    """add(flag, default, text, **kw): a Given flag whose help names its default."""
    parser.set_defaults(given={})

    def add(flag: str, default, text: str = "", **kw) -> None:
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(flag, action=Given, default=default, help=(
            f"{text}{'; ' if text else ''}default {shown} {whose}"), **kw)
    return add


def add_recipe_options(parser: argparse.ArgumentParser) -> None:
    """--preset, everything it sets (defaults: the plain CLI's, used as they are without
    --preset), --ensemble and --init, and the spread options --seeds and --cv."""
    m, t = PLAIN.model, PLAIN.train
    parser.add_argument("--preset", choices=PRESETS, help=(
        "a whole recipe: 'default' (16 64-64 ReLU members, AdamW, early stopping on a "
        "validation fifth, then a refit) or 'classic' (the articles': 10-10 tanh, SGD, "
        "batch 10, divisor scaling, Xavier weights); flags given here override it"))
    add = _adder(parser)
    add("--scaling", "zscore", choices=SCALINGS)
    add("--validation-fraction", 0.0, "hold out part of the training rows for early "
        "stopping", type=float)
    add("--hidden", m.hidden, type=hidden_sizes)
    add("--activation", m.activation, choices=list(ACTIVATIONS))
    add("--dropout", m.dropout, type=float)
    add("--binary-head", m.binary_head, choices=BINARY_HEADS)
    add("--ensemble", m.ensemble, f"K members trained at once in one network, their "
        f"probabilities averaged (1 to {MAX_MEMBERS})", type=int, metavar="K")
    add("--init", m.init, choices=INITS)
    add("--optimizer", t.optimizer, choices=OPTIMIZERS)
    for flag, default in (("--lr", t.lr), ("--momentum", t.momentum),
                          ("--weight-decay", t.weight_decay)):
        add(flag, default, type=float)
    add("--batch-size", t.batch_size, type=int)
    add("--epochs", t.epochs, "total epochs, also when resuming", type=int)
    add("--patience", t.patience, "early stopping patience in epochs (needs a validation "
        "fraction)", type=int)
    add_refit_options(parser, "")
    spread = parser.add_mutually_exclusive_group()
    spread.add_argument("--seeds", type=int, metavar="N", help=(
        f"train seeds SEED..SEED+N-1 on the same split and report mean ± sd (2 to "
        f"{MAX_SEEDS}); the bundle is the first seed's model"))
    spread.add_argument("--cv", type=int, metavar="K", help=(
        f"also K-fold cross-validation (2 to {MAX_FOLDS} folds) over every labelled row "
        f"(both files), for tables of at most {MAX_CV_ROWS:,} rows"))


@dataclass(frozen=True)
class Settings:
    """What a run trains with, after the preset and the flags met."""

    model: ModelConfig
    train: TrainConfig
    scaling: str
    validation_fraction: float
    refit: bool
    preset: str | None = None
    overrides: tuple[str, ...] = ()   # the flags that overrode the preset

    def describe(self) -> str | None:
        """'Preset classic (the articles' recipe), with --epochs from the command line'."""
        if self.preset is None:
            return None
        return (f"Preset {self.preset} ({PRESET_TEXT[self.preset]})"
                + (f", with {', '.join(self.overrides)} from the command line"
                   if self.overrides else ""))


def resolve(args: argparse.Namespace, n_rows: int = 200, n_classes: int = 3) -> Settings:
    """The one place flags and a preset meet: the preset's recipe for `n_rows` training rows
    and `n_classes` classes (without --preset, the plain defaults), with every flag given on
    the command line put over it. Scaling and the validation fraction never depend on the
    counts, so callers resolve once to split and again with the split's real counts."""
    preset = getattr(args, "preset", None)
    given: dict[str, str] = getattr(args, "given", {})
    base = get_preset(preset, n_rows, n_classes, args.seed) if preset else PLAIN
    chosen = [d for d in RECIPE_FIELDS if d in given or (not preset and hasattr(args, d))]
    values = {d: getattr(args, d) for d in chosen}
    if not 1 <= values.get("ensemble", 1) <= MAX_MEMBERS:
        raise SettingError(f"--ensemble wants 1 to {MAX_MEMBERS} members "
                           f"(got {values['ensemble']})")
    model = replace(base.model, **{k: v for k, v in values.items() if k in MODEL_FIELDS})
    train = replace(base.train, **{k: v for k, v in values.items() if k in TRAIN_FIELDS},
                    seed=args.seed, checkpoint_every=getattr(args, "checkpoint_every", 0),
                    device=args.device, threads=args.threads)
    return Settings(model, train, values.get("scaling", base.scaling),
                    values.get("validation_fraction", base.validation_fraction),
                    values.get("refit", base.refit), preset,
                    tuple(given[d] for d in RECIPE_FIELDS if preset and d in given))


def check_spread_flags(args: argparse.Namespace) -> None:
    """--seeds N and --cv K: within bounds, and not with --resume or --ray (one model each)."""
    for flag, value, low, high in (("--seeds", args.seeds, 2, MAX_SEEDS),
                                   ("--cv", args.cv, 2, MAX_FOLDS)):
        if value is None:
            continue
        if not low <= value <= high:
            raise SettingError(f"{flag} wants {low} to {high} (got {value})")
        if args.resume or args.ray:
            raise SettingError(f"{flag} trains several models here and cannot be combined "
                               f"with {'--resume' if args.resume else '--ray'}")
        if flag == "--seeds" and args.checkpoint_every:
            raise SettingError("--seeds keeps no checkpoints: leave out --checkpoint-every")


def check_cv_rows(args: argparse.Namespace, n_rows: int) -> None:
    """--cv is for small tables: refused above MAX_CV_ROWS rows, before any training."""
    if args.cv and n_rows > MAX_CV_ROWS:
        raise SettingError(f"--cv is for tables of at most {MAX_CV_ROWS:,} rows (this one "
                           f"has {n_rows:,}); use --seeds N on one split instead")


def _spread_line(record: SpreadRun) -> str:
    """One seed's or fold's line: accuracy per part, epochs, seconds."""
    what = f"fold {record.fold + 1}" if record.fold is not None else f"seed {record.seed}"
    parts = ", ".join(f"{part} {acc:.2%}" for part, acc in record.accuracy.items())
    return (f"  {what:>8}: {parts}; {record.epochs_run} epochs, "
            f"{record.train_seconds:.2f} s")


def train_seeds(args: argparse.Namespace, prepared: Prepared, settings: Settings,
                say) -> tuple[Run, Spread]:
    """--seeds N: the recipe trained with seeds SEED..SEED+N-1 on one split; the first
    seed's run (with importance and baselines) is the model, the others only records."""
    seeds = list(range(args.seed, args.seed + args.seeds))
    say(f"Training {len(seeds)} seeds ({seeds[0]} to {seeds[-1]}) on the same split ...")

    def on_seed(record: SpreadRun) -> None:
        say(_spread_line(record))

    first = fit_seeds(prepared, settings.model, settings.train, seeds[:1], keep_runs=True,
                      on_seed=on_seed, refit=settings.refit)
    rest = fit_seeds(prepared, settings.model, settings.train, seeds[1:], on_seed=on_seed,
                     refit=settings.refit)
    return finish_run(first.runs[0], prepared), Spread("seeds", first.records + rest.records)


def cross_validation(args: argparse.Namespace, table: Table, test_frame: pd.DataFrame | None,
                     schema: Schema, settings: Settings, say) -> Spread:
    """--cv K: K-fold cross-validation of the recipe over the training (and test) file's
    rows, one model per fold, none kept."""
    frame = table.frame if test_frame is None else \
        pd.concat([table.frame, test_frame], ignore_index=True)
    say(f"Cross-validating: {args.cv} folds over {len(frame):,} rows"
        + (" (both files)" if test_frame is not None else "") + " ...")
    return cross_validate(frame, schema, settings.model, settings.train, args.cv,
                          settings.scaling, settings.validation_fraction, args.seed,
                          on_fold=lambda record: say(_spread_line(record)),
                          refit=settings.refit)


def spread_lines(spread: Spread) -> list[str]:
    """The spread's mean ± sd per part, and which model the bundle holds."""
    lines = [("Seeds: " if spread.kind == "seeds" else "Cross-validation: ")
             + spread.summary(part) for part in ("validation", "test")
             if spread.accuracies(part)]
    lines.append("The saved bundle is seed "
                 f"{spread.records[0].seed}'s model." if spread.kind == "seeds" else
                 "The saved bundle is the model trained above on the usual split; the "
                 "folds' models are not kept.")
    return lines


def extras_lines(run: Run) -> list[str]:
    """The ensemble's per-member spread and the baselines on the test rows, when there."""
    lines, members = [], run.reports["test"].members()
    if members:
        lines.append(f"Ensemble on the test rows: {members_line(members)}")
    baselines = run.bundle.metrics.get("baselines")
    if baselines:
        lines.append("Baselines on the test rows: " + ", ".join(
            f"{TITLES.get(name, name)} {b['accuracy']:.1%}"
            for name, b in baselines.items()))
    return lines


def extras_json(run: Run, settings: Settings) -> dict:
    """--json's members, baselines and the recipe trained with."""
    return {"members": run.reports["test"].members(),
            "baselines": run.bundle.metrics.get("baselines"), "preset": settings.preset,
            "model_config": settings.model.to_dict(), "train_config": settings.train.to_dict(),
            "scaling": settings.scaling, "validation_fraction": settings.validation_fraction,
            "refit": settings.refit}


def add_search_command(subparsers) -> None:
    """The `search` command: read like train, then Optuna trials around the default recipe."""
    s = subparsers.add_parser("search", help="search recipes with Optuna, scored on a "
                                             "validation split; the best becomes the bundle")
    s.add_argument("train_file", metavar="DATA")
    split = s.add_mutually_exclusive_group()
    split.add_argument("--test", help="a separate test file (same columns)")
    split.add_argument("--test-fraction", type=float, default=0.2,
                       help="hold out this stratified fraction when there is no test file")
    add_label_options(s)
    add_read_options(s)
    s.add_argument("--trials", type=int, default=20, help=f"at most this many (1 to "
                                                          f"{MAX_TRIALS})")
    s.add_argument("--timeout", type=float, default=3600.0, metavar="S", help=(
        "start no trial after S seconds (a trial under way finishes; up to a day)"))
    s.add_argument("--seed", type=int, default=1, help="the split's and the sampler's seed")
    s.set_defaults(preset="default")
    add = _adder(s, "(the default recipe's)")
    add("--scaling", "zscore", choices=SCALINGS)
    add("--validation-fraction", 0.2, "the rows trials are scored on", type=float)
    add("--ensemble", 16, f"members per trial (1 to {MAX_MEMBERS})", type=int, metavar="K")
    add("--epochs", 300, "most epochs per trial", type=int)
    add("--patience", 16, "early stopping patience per trial", type=int)
    add_refit_options(s, "the best trial's model ")
    s.add_argument("--device", choices=DEVICES, default="auto")
    s.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    s.add_argument("--out", help="bundle directory for the best trial's model")
    s.add_argument("--json", action="store_true")
    add_store_options(s, recording=True)


def add_refit_options(parser: argparse.ArgumentParser, whose: str) -> None:
    """--refit / --no-refit, for train and (of the best trial) for search."""
    parser.add_argument("--refit", action=Given, nargs=0, const=True, default=False, help=(
        f"after early stopping, train {whose}again on training + validation rows for the "
        "best epoch's count (the default preset does)"))
    parser.add_argument("--no-refit", action=Given, nargs=0, const=False, dest="refit",
                        help="do not refit, even with the default preset")


def trial_line(record: TrialRecord) -> str:
    """One trial: number, state, validation accuracy, epochs, seconds, the recipe tried."""
    accuracy = "-" if record.validation_accuracy is None else \
        f"{record.validation_accuracy:.2%}"
    return (f"  trial {record.number:>3}  {record.state:<8}  validation {accuracy:>7}  "
            f"{record.epochs_run:>4} epochs  {record.seconds:6.2f} s  {record.params_text()}")


def _search_prepared(args: argparse.Namespace, say) -> tuple[Table, Prepared, Settings, float]:
    """Read, split with a validation part and encode as train does; the settings to search
    around; the read and encode seconds."""
    if not 1 <= args.trials <= MAX_TRIALS:
        raise SettingError(f"--trials wants 1 to {MAX_TRIALS} (got {args.trials})")
    if not 0 < args.timeout <= MAX_TIMEOUT_S:
        raise SettingError(f"--timeout wants more than 0 and at most {MAX_TIMEOUT_S:,.0f} "
                           f"seconds (got {args.timeout:g})")
    began = time.perf_counter()
    table, schema, test_frame = read_phase(args, say)
    split = resolve(args)
    prepared = prepare(table.frame, schema, test_frame, args.test_fraction,
                       split.validation_fraction, args.seed, split.scaling, table.name)
    describe_prepared(prepared, args, say)
    settings = resolve(args, len(prepared.arrays["train"][0]),
                       len(prepared.encoder.class_names))
    return table, prepared, settings, time.perf_counter() - began


def cmd_search(args: argparse.Namespace, say) -> dict:
    """Optuna trials on the validation part; the best trial's model is saved and recorded."""
    table, prepared, settings, prepare_seconds = _search_prepared(args, say)
    say(f"Searching: up to {args.trials} trials or {args.timeout:g} s, TPE sampler seed "
        f"{args.seed}, pruning on validation accuracy; each trial {settings.model.ensemble} "
        f"member(s), at most {settings.train.epochs} epochs, patience "
        f"{settings.train.patience}")
    began = time.perf_counter()
    result = search(prepared, args.trials, args.timeout, args.seed, settings.model,
                    settings.train, on_trial=lambda record: say(trial_line(record)),
                    refit=settings.refit)
    seconds = time.perf_counter() - began
    run = finish_run(result.run, prepared)
    run.trials = result.others()
    return _search_report(args, table, result, run, prepare_seconds, seconds, say)


def _search_report(args: argparse.Namespace, table: Table, result: SearchResult, run: Run,
                   prepare_seconds: float, seconds: float, say) -> dict:
    """The closing lines of a search, the best bundle saved and recorded, and --json."""
    pruned = sum(t.state == "pruned" for t in result.trials)
    test = run.reports["test"]
    say(f"{len(result.trials)} trials in {seconds:.1f} s ({pruned} pruned); best trial "
        f"{result.best.number}: validation {result.best.validation_accuracy:.2%}, "
        f"{run.bundle.architecture} {run.bundle.model_config.activation}")
    if run.history.refit_epochs:
        say(f"Refitted the best trial's model on training + validation rows for "
            f"{run.history.refit_epochs} epochs (its best epoch's count)")
    say(f"Test accuracy of the best trial's model: {test.summary()} (the test rows' one use)")
    for line in extras_lines(run):
        say(line)
    if args.out:
        save_bundle(run.bundle, Path(args.out))
        say(f"Saved the best trial's bundle to {args.out}/ (model.pt + bundle.json)")
    else:
        say("The best model was not saved (give --out DIR to keep it)")
    run_id = record_cli_run(args, run, table, {
        "prepare_seconds": prepare_seconds, "train_seconds": seconds}) if args.store else None
    if run_id is not None:
        say(f"Recorded the best trial as run {run_id} (mlcore runs show {run_id}) and the "
            f"{len(run.trials)} other finished trials whose models were kept as runs of their "
            "own (pruned trials are in the best run's metrics only)")
    return {**result.to_dict(), "trials_run": len(result.trials), "pruned": pruned,
            "validation_accuracy": result.best.validation_accuracy,
            "test_accuracy": test.accuracy, "architecture": run.bundle.architecture,
            "members": test.members(), "baselines": run.bundle.metrics.get("baselines"),
            "search_seconds": seconds, "bundle": args.out, "run_id": run_id,
            "recorded": 1 + len(run.trials) if run_id is not None else 0}
