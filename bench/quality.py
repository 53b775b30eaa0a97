"""Test accuracy of a recipe (the default preset unless told otherwise) against
scikit-learn's LogisticRegression, RandomForest (300 trees), HistGradientBoosting and
MLPClassifier on the same splits and the same encoded rows, seeds 1-5: mean ± sd of test
accuracy and of train seconds, as a markdown table (docs/benchmarks.md, "Quality").

Splits: a sample with its own test file keeps it (the seed changes the validation split,
the initial weights and the batch order); any other table is split 80/20 stratified by the
seed, then 20% of the rest is the validation set. scikit-learn's models learn from the
training and validation rows (what our model learns from, early stopping included).

    PYTHONPATH=. .venv/bin/python bench/quality.py                     # everything
    PYTHONPATH=. .venv/bin/python bench/quality.py --quick             # smoke run
    PYTHONPATH=. .venv/bin/python bench/quality.py --only people iris --seeds 3 \\
        --recipe '{"ensemble": 8, "lr": 0.01}' --models ours logistic
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from mlcore.model import ModelConfig
from mlcore.presets import Recipe, get_preset
from mlcore.samples import get_sample
from mlcore.schema import Schema, infer_schema
from mlcore.table import read_table
from mlcore.workflow import Prepared, fit, prepare

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import tables as generators  # noqa: E402

MODELS = ("ours", "logistic", "forest", "boosting", "mlp")


@dataclass
class Table:
    """A benchmark table: rows, schema, and its own test rows when it has them."""

    name: str
    frame: pd.DataFrame
    schema: Schema
    test: pd.DataFrame | None = None


def sample_table(name: str) -> Table:
    sample = get_sample(name)
    frames = [read_table(path, header=False).frame for path in
              ([sample.train_path()] + ([sample.test_path()] if sample.test_file else []))]
    for frame in frames:
        frame.columns = list(sample.columns)
    return Table(name, frames[0], numbers_kept(infer_schema(frames[0], label=sample.label)),
                 frames[1] if len(frames) > 1 else None)


def numbers_kept(schema: Schema) -> Schema:
    """Two-valued numeric features (digits' rarely inked pixels: 0 or 1 on the whole
    table) as numbers, not binary: a split whose training rows hold one value refuses a
    binary column."""
    for column in schema.features:
        if column.kind == "binary" and column.name[0] == "p" and column.name[1:].isdigit():
            column.kind = "numeric"
    return schema


def sklearn_table(name: str) -> Table:
    from sklearn import datasets
    data = {"iris": datasets.load_iris, "wine": datasets.load_wine,
            "breast_cancer": datasets.load_breast_cancer}[name]()
    frame = pd.DataFrame(data.data, columns=[f"x{i}" for i in range(data.data.shape[1])])
    frame = frame.map(repr)
    frame["target"] = [str(data.target_names[t]) for t in data.target]
    return Table(name, frame, infer_schema(frame, label="target"))


def generated_table(kind: str, rows: int) -> Table:
    with tempfile.TemporaryDirectory() as folder:
        described = getattr(generators, kind)(Path(folder) / f"{kind}.csv", rows, seed=0)
        frame = read_table(described["path"]).frame
    return Table(f"{kind} {rows // 1000}k", frame, infer_schema(frame, label=described["label"]))


TABLES: dict[str, Callable[[], Table]] = {
    **{name: (lambda n=name: sample_table(n))
       for name in ("students", "people", "employees", "blobs", "digits")},
    **{name: (lambda n=name: sklearn_table(n)) for name in ("iris", "wine", "breast_cancer")},
    "mixed5k": lambda: generated_table("mixed", 5_000),
    "messy20k": lambda: generated_table("messy", 20_000),
    "mixed50k": lambda: generated_table("mixed", 50_000),
}
QUICK = ("people", "iris")


def recipe_for(table: Table, prepared: Prepared, overrides: dict, seed: int,
               preset: str) -> Recipe:
    """The preset for this table's size, with --recipe's fields (ModelConfig's or
    TrainConfig's) put in."""
    recipe = get_preset(preset, len(prepared.arrays["train"][0]),
                        len(prepared.encoder.class_names), seed)
    model_fields = {f.name for f in fields(ModelConfig)}
    model = replace(recipe.model, **{k: v for k, v in overrides.items() if k in model_fields})
    recipe_fields = ("scaling", "validation", "refit")
    train = replace(recipe.train, **{k: v for k, v in overrides.items()
                                     if k not in model_fields and k not in recipe_fields})
    return replace(recipe, model=model, train=train,
                   refit=overrides.get("refit", recipe.refit))


def split(table: Table, seed: int, preset: str, overrides: dict) -> Prepared:
    probe = get_preset(preset)
    return prepare(table.frame, table.schema, table.test, test_fraction=0.2,
                   validation_fraction=overrides.get("validation", probe.validation_fraction)
                   or 0.0, seed=seed, scaling=overrides.get("scaling", probe.scaling))


def sklearn_model(name: str, seed: int, jobs: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    return {"logistic": lambda: LogisticRegression(max_iter=2000),
            "forest": lambda: RandomForestClassifier(300, n_jobs=jobs, random_state=seed),
            "boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
            "mlp": lambda: MLPClassifier(random_state=seed, max_iter=500)}[name]()


def one_seed(table: Table, seed: int, models: list[str], preset: str, overrides: dict,
             threads: int) -> dict[str, tuple[float, float]]:
    """{model: (test accuracy, train seconds)} for one seed's split."""
    prepared = split(table, seed, preset, overrides)
    out = {}
    if "ours" in models:
        recipe = recipe_for(table, prepared, overrides, seed, preset)
        run = fit(prepared, recipe.model, replace(recipe.train, threads=threads),
                  refit=recipe.refit)
        out["ours"] = (run.reports["test"].accuracy, run.history.train_seconds)
    parts = [prepared.arrays[p] for p in ("train", "validation") if p in prepared.arrays]
    X, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    X_test, y_test = prepared.arrays["test"]
    for name in (m for m in models if m != "ours"):
        model = sklearn_model(name, seed, threads)
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        out[name] = (float(model.score(X_test, y_test)), time.perf_counter() - began)
    return out


def _cell(values: list[float], percent: bool) -> str:
    mean, sd = np.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1%} ± {sd:.1%}" if percent else f"{mean:.2f} ± {sd:.2f}"


def markdown(results: dict[str, dict], models: list[str]) -> str:
    """One row per table: each model's accuracy (mean ± sd) and ours vs the best other."""
    head = ["table", "rows × features"] + [f"{m} acc" for m in models] + \
        ["ours s", "best other s", "ours − best other"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in results.items():
        runs = result["runs"]
        acc = {m: [r[m][0] for r in runs] for m in models}
        secs = {m: [r[m][1] for r in runs] for m in models}
        others = [m for m in models if m != "ours"]
        best = max(others, key=lambda m: np.mean(acc[m])) if others else None
        gap = (f"{(np.mean(acc['ours']) - np.mean(acc[best])) * 100:+.1f} pt ({best})"
               if best and "ours" in models else "")
        row = [name, result["shape"]] + [_cell(acc[m], True) for m in models] + [
            _cell(secs["ours"], False) if "ours" in models else "",
            _cell(secs[best], False) if best else "", gap]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(TABLES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--preset", default="default")
    parser.add_argument("--recipe", default="{}", help="JSON of ModelConfig/TrainConfig "
                        "fields (and scaling, validation, refit) over the preset")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for ours, n_jobs for the forest")
    parser.add_argument("--quick", action="store_true", help="2 tables, 2 seeds, 20 epochs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    overrides = json.loads(args.recipe)
    names = args.only or (list(QUICK) if args.quick else list(TABLES))
    seeds = 2 if args.quick else args.seeds
    if args.quick:
        overrides = {"epochs": 20, **overrides}
    results = {}
    for name in names:
        table = TABLES[name]()
        runs = []
        for seed in range(1, seeds + 1):
            runs.append(one_seed(table, seed, args.models, args.preset, overrides,
                                 args.threads))
            print(f"{name} seed {seed}: " + ", ".join(
                f"{m} {a:.1%} {s:.1f}s" for m, (a, s) in runs[-1].items()), flush=True)
        features = split(table, 1, args.preset, overrides).encoder.n_features
        rows = len(table.frame) + (len(table.test) if table.test is not None else 0)
        results[name] = {"shape": f"{rows:,} × {features}", "runs": runs}
        if args.json:  # after every table, so a long run keeps what it measured
            args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results, args.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
