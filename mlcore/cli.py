"""`python -m mlcore`: train, evaluate, predict and export from the command line.

Prints the demo's story; with --json the last line is one JSON object. Errors are one line
on stderr and a non-zero exit (a traceback only with --debug).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from .budget import peak_memory_mb
from .bundle import Bundle, load_bundle, save_bundle, write_bundle
from .decision import check_threshold
from .device import DEVICES
from .cli_reading import (add_label_options, add_read_options, cmd_schema, describe_prepared,
                          read_options, read_phase)
from .cli_recipes import (Settings, add_recipe_options, add_search_command, check_cv_rows,
                          check_spread_flags, cmd_search, cross_validation, extras_json,
                          extras_lines, resolve, spread_lines, train_seeds)
from .cli_runs import add_runs_commands, add_store_options, cmd_runs, record_cli_run
from .errors import StudioError
from .explain import held_out_importance
from .metrics import Report, evaluate
from .model import count_parameters
from .onnx_check import check_features, export_raw_onnx
from .onnx_export import export_onnx
from .onnx_raw import decision_rule, input_names
from .predict import Prediction, Predictor
from .schema import Schema, with_bins
from .tasks import finish_run
from .table import Table, frame_to_text
from .training import EpochStats, TrainConfig
from .workflow import Prepared, Run, fit, prepare, read_like

DEFAULT_TRAIN = TrainConfig()
THRESHOLD_HELP = ("two-class models: predict the positive (second) class when its "
                  "probability is at least this")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlcore", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a classifier on a table and save a bundle")
    t.add_argument("train_file")
    split = t.add_mutually_exclusive_group()
    split.add_argument("--test", help="a separate test file (same columns)")
    split.add_argument("--test-fraction", type=float, default=0.2,
                       help="hold out this stratified fraction when there is no test file")
    add_label_options(t)
    add_read_options(t)
    add_recipe_options(t)
    t.add_argument("--seed", type=int, default=DEFAULT_TRAIN.seed)
    t.add_argument("--checkpoint-every", type=int, default=0, help="epochs between checkpoints")
    t.add_argument("--checkpoint-dir", help="where checkpoints go (default OUT/checkpoints)")
    t.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from this checkpoint file, with the same data and settings "
                        "(checked); only --epochs (the total), --checkpoint-every, "
                        "--checkpoint-dir, --device, --threads, --log-every and --out "
                        "may differ")
    t.add_argument("--device", choices=DEVICES, default="auto")
    t.add_argument("--threads", type=int, default=DEFAULT_TRAIN.threads,
                   help="torch intra-op threads")
    t.add_argument("--log-every", type=int, default=0, help="print every N epochs")
    t.add_argument("--ray", metavar="ADDRESS",
                   help="train on the Ray cluster at ADDRESS (host:port of its head) "
                        "instead of here: the same model, bit for bit (docs/cluster.md)")
    t.add_argument("--out", required=True, help="bundle directory to write")
    t.add_argument("--json", action="store_true")
    add_store_options(t, recording=True)

    e = sub.add_parser("evaluate", help="evaluate a bundle on a labelled file")
    e.add_argument("bundle")
    e.add_argument("data_file")
    add_read_options(e)
    e.add_argument("--threshold", type=float, help=THRESHOLD_HELP)
    e.add_argument("--save", action="store_true",
                   help="store --threshold in the bundle: predict, the app and the raw ONNX "
                        "export then decide with it")
    e.add_argument("--importance", action="store_true",
                   help="permutation importance of each column on these rows (5 shuffles, "
                        "at most 5,000 rows): accuracy lost, mean and sd")
    e.add_argument("--json", action="store_true")

    p = sub.add_parser("predict", help="predict labels for raw rows")
    p.add_argument("bundle")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--row", action="append", help='raw values, e.g. "M,30.5,oklahoma,543"')
    source.add_argument("--input", help="a file of rows (with or without the label column)")
    add_read_options(p)
    p.add_argument("--out", help="write the predictions to this file (CSV if it ends in "
                                 ".csv, else TSV) and print a summary instead of each row")
    p.add_argument("--unknown", choices=("error", "zeros"), default="error",
                   help="unseen categories: refuse, or encode as all zeros with a warning")
    p.add_argument("--threshold", type=float,
                   help=THRESHOLD_HELP + " for this call (default: the bundle's own)")
    p.add_argument("--json", action="store_true")

    s = sub.add_parser("schema", help="explain how each column of a table would be used")
    s.add_argument("data_file")
    add_label_options(s)
    add_read_options(s)
    s.add_argument("--json", action="store_true")

    x = sub.add_parser("export", help="export a bundle to ONNX, verified with onnxruntime")
    x.add_argument("bundle")
    x.add_argument("--onnx", help="output .onnx file taking encoded features")
    x.add_argument("--onnx-raw", help="output .onnx file taking the raw columns (encoder inside)")
    x.add_argument("--check", help="a file of raw rows to verify the export on as well "
                                   "(up to 2,000 of them); rows spread over the training "
                                   "ranges and edge rows are always checked")
    x.add_argument("--json", action="store_true")
    add_search_command(sub)
    add_runs_commands(sub)
    return parser


def _report_lines(name: str, report: Report) -> list[str]:
    lines = [f"{name.capitalize()} accuracy: {report.summary()}  (log-loss {report.log_loss:.4f})"]
    for row in report.per_class():
        lines.append(f"  {row['name']:>12}: {row['correct']:>4} correct {row['wrong']:>4} wrong"
                     f"  accuracy {row['accuracy']:.2%}  precision {row['precision']:.3f}"
                     f"  recall {row['recall']:.3f}  F1 {row['f1']:.3f}")
    return lines


def _report_json(report: Report) -> dict:
    data = report.to_dict()
    return {"accuracy": data["accuracy"], "n": data["n"], "n_correct": data["n_correct"],
            "log_loss": data["log_loss"], "per_class": data["per_class"],
            "confusion_matrix": data["confusion"], "class_names": data["class_names"],
            "macro": data["macro"], "weighted": data["weighted"], "binary": data["binary"]}


def _network_line(args: argparse.Namespace, prepared: Prepared, settings: Settings) -> str:
    """The network and its training in one line, as the articles write them."""
    enc, model_cfg, train_cfg = prepared.encoder, settings.model, settings.train
    n_out = model_cfg.outputs(len(enc.class_names))
    return (f"Network: {model_cfg.describe(enc.n_features, len(enc.class_names))} "
            f"{model_cfg.activation}, "
            f"{'BCE on one sigmoid output' if n_out == 1 else 'cross-entropy'}"
            f"; {train_cfg.optimizer} lr {train_cfg.lr}, batch {train_cfg.batch_size}, "
            f"{train_cfg.epochs} epochs" + (f", resuming from {args.resume}" if args.resume
                                            else "")
            + (f"; on the Ray cluster at {args.ray}" if args.ray else ""))


def _train_phase(args: argparse.Namespace, prepared: Prepared, settings: Settings,
                 say) -> Run:
    """Phase 4: build the network, train it with progress every --log-every epochs."""
    train_cfg = settings.train
    out = Path(args.out)
    checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else out / "checkpoints"
    log_every = args.log_every or max(1, train_cfg.epochs // 10)

    def on_epoch(stats: EpochStats) -> None:
        if stats.epoch % log_every == 0 or stats.epoch == train_cfg.epochs:
            evaluation = (f"  {prepared.eval_name} {stats.eval_accuracy:.2%}"
                          if stats.eval_accuracy is not None else "")
            say(f"  epoch {stats.epoch:>5}  loss {stats.train_loss:.4f}  "
                f"train {stats.train_accuracy:.2%}{evaluation}")

    last_said = [time.perf_counter()]

    def on_batch(epoch: int, done: int, total: int) -> None:  # long epochs: every ~2 s
        if time.perf_counter() - last_said[0] >= 2.0:
            last_said[0] = time.perf_counter()
            say(f"  epoch {epoch:>5}  rows {done:,} of {total:,}")

    job = {"prepared": prepared, "model_config": settings.model, "train_config": train_cfg,
           "checkpoint_dir": checkpoint_dir if args.checkpoint_every else None,
           "resume": args.resume, "refit": settings.refit}
    if args.ray:
        from .ray_workers import fit_on_ray  # the same job, run by a Ray actor
        run = fit_on_ray(args.ray, job, on_epoch, on_batch)
    else:  # a Ray actor runs mlcore.tasks, which adds importance and baselines itself
        run = finish_run(fit(**job, on_epoch=on_epoch, on_batch=on_batch), prepared)
    say(f"Trained {len(run.history.epochs)} epochs on {run.history.device} in "
        f"{run.history.train_seconds:.2f} s, {count_parameters(run.model)} parameters"
        + (f" (early stop, best epoch {run.history.best_epoch})"
           if run.history.stopped == "early" else "")
        + (f", then refitted for {run.history.refit_epochs} epochs on train + validation"
           if run.history.refit_epochs else ""))
    return run


def _prepare_phase(args: argparse.Namespace, table: Table, schema: Schema,
                   test_frame: pd.DataFrame | None, say) -> tuple[Prepared, Settings]:
    """Phase 3: split and encode with the recipe's scaling and validation fraction, then
    the recipe for the split's training rows and classes."""
    say("Encoding ...")
    split = resolve(args)
    prepared = prepare(table.frame, schema, test_frame, args.test_fraction,
                       split.validation_fraction, args.seed, split.scaling, table.name)
    describe_prepared(prepared, args, say)
    return prepared, resolve(args, len(prepared.arrays["train"][0]),
                             len(prepared.encoder.class_names))


def cmd_train(args: argparse.Namespace, say) -> dict:
    """Read, encode, train (one model or --seeds N), report, cross-validate (--cv), save
    the bundle and record it; the --json object."""
    check_spread_flags(args)
    began = time.perf_counter()
    table, schema, test_frame = read_phase(args, say)
    check_cv_rows(args, len(table.frame) + (len(test_frame) if test_frame is not None else 0))
    read_seconds = time.perf_counter() - began
    began = time.perf_counter()
    prepared, settings = _prepare_phase(args, table, schema, test_frame, say)
    prepare_seconds = time.perf_counter() - began
    enc = prepared.encoder
    say("Training ...")
    if settings.describe():
        say(settings.describe())
    say(_network_line(args, prepared, settings))
    run, spread = train_seeds(args, prepared, settings, say) if args.seeds else \
        (_train_phase(args, prepared, settings, say), None)
    for name in ("train", "test"):
        for line in _report_lines(name, run.reports[name]):
            say(line)
    for line in extras_lines(run):
        say(line)
    if args.cv:
        spread = cross_validation(args, table, test_frame, schema, settings, say)
    for line in spread_lines(spread) if spread is not None else []:
        say(line)
    out = Path(args.out)
    save_bundle(run.bundle, out)
    say(f"Saved the bundle to {out}/ (model.pt + bundle.json)")
    run_id = record_cli_run(args, run, table, {
        "read_seconds": read_seconds, "prepare_seconds": prepare_seconds,
        "train_seconds": run.history.train_seconds}) if args.store else None
    if run_id is not None:
        say(f"Recorded run {run_id} in the store (mlcore runs show {run_id})")
    train_r, test_r = run.reports["train"], run.reports["test"]
    return {"train_accuracy": train_r.accuracy, "test_accuracy": test_r.accuracy,
            "train_correct": train_r.n_correct, "train_rows": train_r.n,
            "test_correct": test_r.n_correct, "test_rows": test_r.n,
            "per_class": test_r.per_class(), "confusion_matrix": test_r.confusion.tolist(),
            "class_names": enc.class_names, "epochs_run": len(run.history.epochs),
            "stopped": run.history.stopped, "device": run.history.device,
            "read_seconds": read_seconds, "prepare_seconds": prepare_seconds,
            "train_seconds": run.history.train_seconds,
            "n_rows": len(table.frame) + (len(test_frame) if test_frame is not None else 0),
            "n_features": enc.n_features, "peak_memory_mb": peak_memory_mb(),
            "architecture": run.bundle.architecture, "bundle": str(out), "run_id": run_id,
            **extras_json(run, settings),
            **({spread.kind: spread.to_dict()} if spread is not None else {})}


def cmd_evaluate(args: argparse.Namespace, say) -> dict:
    if args.save and args.threshold is None:
        raise StudioError("--save stores a threshold: give it with --threshold T")
    bundle = load_bundle(args.bundle)
    if args.threshold is not None:
        bundle = bundle.with_threshold(check_threshold(args.threshold, bundle.class_names))
    table = read_like(args.data_file, bundle.schema, options=read_options(args))
    frame = with_bins(table.frame, bundle.schema)
    X = bundle.encoder.transform(frame, unknown="zeros")
    for problem in bundle.encoder.check(frame, unknown="zeros")[:5]:
        say(f"  warning: {problem}")
    report = evaluate(bundle.build_model(), X, bundle.encoder.encode_labels(frame),
                      bundle.class_names, bundle.threshold)
    say(f"Model {bundle.architecture} on {table.name} ({len(table.frame)} rows)"
        + _rule(bundle))
    for line in _report_lines("data", report):
        say(line)
    if args.save:
        write_bundle(bundle, args.bundle)
        say(f"Saved threshold {bundle.threshold:g} in {args.bundle}")
    out = {**_report_json(report), "threshold": _threshold_json(bundle),
           "saved": bool(args.save)}
    if args.importance:
        found = held_out_importance(bundle, frame)
        say("Feature importance (accuracy points lost when the column is shuffled):")
        for i in found:
            say(f"  {i.column:<24} {100 * i.mean:6.2f} ± {100 * i.sd:.2f}")
        out["importance"] = [{"column": i.column, "mean": i.mean, "sd": i.sd} for i in found]
    return out


def _rule(bundle: Bundle) -> str:
    """', deciding X when P(X) >= t' for two classes, else nothing."""
    if len(bundle.class_names) != 2:
        return ""
    positive = bundle.class_names[1]
    return f", deciding {positive} when P({positive}) >= {bundle.threshold:g}"


def _threshold_json(bundle: Bundle) -> float | None:
    return bundle.threshold if len(bundle.class_names) == 2 else None


def cmd_predict(args: argparse.Namespace, say) -> dict:
    bundle = load_bundle(args.bundle)
    predictor = Predictor(bundle)
    if args.row:
        frames = [read_like(row.encode(), bundle.schema, "--row", header=False).frame
                  for row in args.row]
        frame = pd.concat(frames, ignore_index=True)
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    else:
        frame = read_like(args.input, bundle.schema, options=read_options(args)).frame
    result = predictor.predict(frame, unknown=args.unknown, strict=False,
                               threshold=args.threshold)
    if len(result.class_names) == 2:
        say(f"Deciding {result.class_names[1]} when P({result.class_names[1]}) >= "
            f"{result.threshold:g}" + (" (this call)" if args.threshold is not None
                                       else " (the bundle's threshold)"))
    for problem in result.problems[:20] if args.out else result.problems:
        say(f"{problem.severity}: {problem}")
    if args.out:
        return _write_predictions(result, frame.index.name or "row", args.out, say)
    rows = []
    for i, label, probs in zip(result.index, result.labels, result.probabilities):
        shown = "  ".join(f"{c} {p:.4f}" for c, p in zip(result.class_names, probs))
        say(f"{frame.index.name or 'row'} {i}: {label if label is not None else '(not predicted)'}"
            f"   [{shown}]")
        rows.append({"row": int(i), "label": label,
                     "probabilities": dict(zip(result.class_names, map(float, probs)))})
    errors = [p for p in result.problems if p.severity == "error"]
    if errors:
        raise StudioError(f"{sum(label is None for label in result.labels)} of "
                          f"{len(result.labels)} rows could not be predicted: {errors[0]}")
    return {"predictions": rows, "class_names": result.class_names,
            "threshold": result.threshold if len(result.class_names) == 2 else None}


def _write_predictions(result: Prediction, unit: str, out: str, say) -> dict:
    """Predictions of a whole file into OUT (CSV when it ends in .csv, else TSV; formula
    cells escaped), and a summary instead of a line per row."""
    table = result.frame().rename_axis(unit).reset_index()
    Path(out).write_text(frame_to_text(table, "," if out.endswith(".csv") else "\t"))
    counts = table["predicted"].value_counts()
    missed = int(table["predicted"].isna().sum())
    say(f"Predicted {len(table) - missed:,} of {len(table):,} rows into {out}: "
        + ", ".join(f"{name} {counts.get(name, 0):,}" for name in result.class_names)
        + (f"; {missed:,} not predicted (see the problems above)" if missed else ""))
    return {"rows": len(table), "not_predicted": missed, "out": out,
            "counts": {name: int(counts.get(name, 0)) for name in result.class_names},
            "class_names": result.class_names,
            "threshold": result.threshold if len(result.class_names) == 2 else None}


def cmd_export(args: argparse.Namespace, say) -> dict:
    if not (args.onnx or args.onnx_raw):
        raise StudioError("say where to write: --onnx FILE and/or --onnx-raw FILE")
    bundle = load_bundle(args.bundle)
    frame = read_like(args.check, bundle.schema).frame if args.check else None
    result = {}
    if args.onnx:
        check = export_onnx(bundle, args.onnx, check_features(bundle, frame))
        say(f"Wrote {args.onnx} ({Path(args.onnx).stat().st_size:,} bytes): input 'features' "
            f"float32 [batch, {bundle.encoder.n_features}] (encoded), output 'probabilities' "
            f"[batch, {len(bundle.class_names)}]")
        say(f"  {check.summary()}")
        result["onnx"] = {"path": args.onnx, "max_abs_diff": check.max_abs_diff,
                          "rows": check.rows, "labels_equal": check.labels_equal,
                          "onnxruntime": check.onnxruntime_version, "opset": check.opset}
    if args.onnx_raw:
        raw = export_raw_onnx(bundle, args.onnx_raw, frame)
        names = input_names(bundle)
        say(f"Wrote {args.onnx_raw} ({Path(args.onnx_raw).stat().st_size:,} bytes): one input "
            "per column, each [batch, 1]:")
        for c in bundle.encoder.columns:
            say(f"  {c.name!r:>24} -> {names[c.name]} "
                f"({'float32, NaN = missing' if c.kind == 'numeric' else 'string'})")
        say(f"Outputs: label (string [batch], {decision_rule(bundle)}), probabilities "
            f"(float32 [batch, {len(bundle.class_names)}]), unknown_categories (int64 [batch])")
        say(f"  {raw.summary()}")
        result["onnx_raw"] = {"path": args.onnx_raw, "inputs": names,
                              "threshold": _threshold_json(bundle), **raw.to_dict()}
    return result


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "export": cmd_export, "schema": cmd_schema, "search": cmd_search, "runs": cmd_runs}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json = getattr(args, "json", False)

    def say(text: str) -> None:
        print(text, flush=True)

    try:
        result = COMMANDS[args.command](args, say)
    except (StudioError, ValueError, OSError) as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(result))
    return 0
