"""The articles' recipe (the "classic" preset) over many seeds on the articles' two demo
tasks as our samples hold them (students: major, 3 classes; people: sex, 2 classes), each
with its own 40-row test file: where the articles' published test accuracy falls in our
distribution of test accuracies.

    PYTHONPATH=. .venv/bin/python bench/classic_seeds.py [--seeds 20] [--init torch]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from mlcore.presets import get_preset
from mlcore.spread import fit_seeds
from mlcore.workflow import prepare

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.quality import sample_table  # noqa: E402

PUBLISHED = {"students": (0.815, 0.775), "people": (0.825, 0.850)}  # (train, test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--init", choices=("xavier", "torch"), default="xavier")
    args = parser.parse_args(argv)
    print("| task | published train, test | our train mean ± sd | our test mean ± sd | "
          "test min–max | seeds with test ≥ published |")
    print("|---|---|---|---|---|---|")
    for name, (train, test) in PUBLISHED.items():
        table = sample_table(name)
        recipe = get_preset("classic", n_classes=2 if name == "people" else 3)
        prepared = prepare(table.frame, table.schema, table.test, scaling=recipe.scaling)
        spread = fit_seeds(prepared, replace(recipe.model, init=args.init), recipe.train,
                           seeds=args.seeds)
        ours = np.array(spread.accuracies("test"))
        print(f"| {name} | {train:.1%}, {test:.1%} | {spread.mean('train'):.1%} ± "
              f"{spread.sd('train'):.1%} | {spread.mean():.1%} ± {spread.sd():.1%} | "
              f"{ours.min():.1%}–{ours.max():.1%} | {int((ours >= test - 1e-9).sum())} of "
              f"{len(ours)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
