"""Data at scale: the engine's reader, schema and encoder on real-sized tables, against pandas,
and the one-row prediction path against onnxruntime, as ratios measured in one run.

Generates (bench/tables.py, deterministic) mixed 1,000,000 rows (TSV), messy 300,000, wide
20,000 rows × 401 columns and price 54,000, then measures, per table:

  read          `mlcore.table.read_table(path)` vs `pandas.read_csv(path, engine="pyarrow",
                sep=...)` with pandas' default dtypes (type inference, its NA rules); a second,
                informative row compares against `dtype=str` (text columns like ours)
                target: ours <= 1.5 × pandas (default dtypes)
  read+schema+encode
                read_table + infer_schema(frame, label) + workflow.prepare(frame, schema,
                test_fraction=0.2) (validate, stratified split, fit the encoder on the
                training rows, encode every part to float32) vs pandas' read (default
                dtypes) alone; target <= 4 ×
  peak RSS      a fresh child process imports the engine (torch included), then reads,
                infers and prepares; extra peak = its peak resident size after the work
                (VmHWM in /proc/self/status: ru_maxrss of the child's own address space,
                see CHILD) minus its resident size (VmRSS) right after the imports (about
                290 MB: torch, pandas, pyarrow), against file bytes +
                the encoded matrices' bytes (sum of X.nbytes over the parts); target <= 3 ×

and once:

  predict 1 row `Predictor(bundle).predict(row_dict)` µs per call vs onnxruntime running the
                raw-input ONNX export (`export_raw_onnx`) on the same row, feeds built once
                (`raw_feeds`), `session.run(None, feeds)`, default session options; the model
                is trained 3 epochs on messy (up to 50,000 rows) with created_at left out (the
                raw ONNX graph cannot read dates): numeric columns with NA, the 50-level top-K
                merchant and the 30-level country one-hot; target <= 3 ×
  price         `infer_schema(frame, "price")` must refuse in one line naming --bins, quickly
                (target < 1 s); `bins=4` must give 4 classes through prepare

Times are medians of --repeat runs, ours and the baseline interleaved; each RSS child runs
--repeat times too (median). Prints a markdown table; --json FILE writes the rows and the
settings.

Run from the repository root (about 2 minutes on 2 cores; files go to a temp dir unless --dir):
  PYTHONPATH=. .venv/bin/python bench/data_scale.py
  PYTHONPATH=. .venv/bin/python bench/data_scale.py --quick            # smoke run, < 30 s
  PYTHONPATH=. .venv/bin/python bench/data_scale.py --repeat 5 --dir /tmp/tables --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from bench.tables import GENERATORS, file_name  # noqa: E402
from mlcore.errors import StudioError  # noqa: E402
from mlcore.schema import infer_schema  # noqa: E402
from mlcore.table import read_table  # noqa: E402
from mlcore.workflow import prepare  # noqa: E402

FULL = {"mixed": 1_000_000, "messy": 300_000, "wide": 20_000, "price": 54_000}
QUICK = {"mixed": 20_000, "messy": 10_000, "wide": 1_000, "price": 5_000}
PREDICT_ROWS = {"full": 50_000, "quick": 5_000}  # messy rows the predict model trains on
TARGETS = {"read": 1.5, "read+schema+encode": 4.0, "peak RSS": 3.0, "predict 1 row": 3.0,
           "price refused": 1.0}

# The child of the RSS measure: imports, its resident size then (the baseline), the work,
# then its peak. A child's ru_maxrss also counts the peak of the address space it was
# exec'ed from (Linux keeps the pre-exec mm's high-water mark in the signal struct), so a
# child of this large benchmark process reports the benchmark's own peak: the figure used
# is VmHWM, the same high-water mark for the child's own address space; ru_maxrss is kept
# in the JSON beside it.
CHILD = """
import json, resource, sys
def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith(key + ":"))  # kB
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.workflow import prepare
base = status("VmRSS")  # resident now, after the imports
frame = read_table(sys.argv[1]).frame
prepared = prepare(frame, infer_schema(frame, sys.argv[2]), test_fraction=0.2)
matrix = sum(X.nbytes for X, _ in prepared.arrays.values())
print(json.dumps({"base_kb": base, "peak_kb": status("VmHWM"), "matrix_bytes": matrix,
                  "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def timed(fn: Callable[[], Any], runs: list[float]) -> None:
    """Time one call of fn and append its wall seconds to runs."""
    began = time.perf_counter()
    fn()
    runs.append(time.perf_counter() - began)


def pandas_read(info: dict, **kwargs: Any) -> pd.DataFrame:
    return pd.read_csv(info["path"], engine="pyarrow", sep=info["delimiter"], **kwargs)


def our_pipeline(info: dict) -> Any:
    frame = read_table(info["path"]).frame
    return prepare(frame, infer_schema(frame, info["label"]), test_fraction=0.2)


def time_table(info: dict, repeat: int) -> dict[str, float]:
    """Median seconds of ours and pandas' reads and of our read+schema+encode, interleaved."""
    cases = {"ours_read": lambda: read_table(info["path"]),
             "pandas_read": lambda: pandas_read(info),
             "pandas_read_str": lambda: pandas_read(info, dtype=str),
             "ours_pipeline": lambda: our_pipeline(info)}
    for fn in cases.values():  # warm-up: page cache, lazy imports, Arrow's thread pool
        fn()
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            timed(fn, runs[name])
    return {name: statistics.median(values) for name, values in runs.items()}


def child_memory(info: dict, repeat: int) -> dict[str, float]:
    """Median extra peak RSS (bytes) of a fresh process doing read+schema+encode, and the
    matrix bytes it encoded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    extra, maxrss, matrix = [], [], 0
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", CHILD, info["path"], info["label"]],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        out = json.loads(done.stdout.strip().splitlines()[-1])
        extra.append((out["peak_kb"] - out["base_kb"]) * 1024)
        maxrss.append(out["ru_maxrss_kb"] * 1024)
        matrix = out["matrix_bytes"]
    return {"extra_bytes": statistics.median(extra), "matrix_bytes": matrix,
            "ru_maxrss_bytes": statistics.median(maxrss)}


def row(table: str, rows: int, mb: float, measure: str, ours: float, baseline: float | None,
        unit: str, ratio: float | None, target: float | None, met: bool | None,
        note: str = "") -> dict[str, Any]:
    return {"table": table, "rows": rows, "mb": round(mb, 1), "measure": measure,
            "ours": ours, "baseline": baseline, "unit": unit, "ratio": ratio,
            "target": target, "met": met, "note": note}


def table_rows(info: dict, repeat: int) -> list[dict[str, Any]]:
    """The read, read+schema+encode and peak RSS rows of one table."""
    size = Path(info["path"]).stat().st_size
    mb, n, name = size / 1e6, info["rows"], info["name"]
    t = time_table(info, repeat)
    memory = child_memory(info, repeat)
    own = memory["extra_bytes"]
    reference = size + memory["matrix_bytes"]
    read_ratio = t["ours_read"] / t["pandas_read"]
    pipe_ratio = t["ours_pipeline"] / t["pandas_read"]
    mem_ratio = own / reference
    return [
        row(name, n, mb, "read", t["ours_read"], t["pandas_read"], "s", read_ratio,
            TARGETS["read"], read_ratio <= TARGETS["read"], "pandas default dtypes"),
        row(name, n, mb, "read (vs dtype=str)", t["ours_read"], t["pandas_read_str"], "s",
            t["ours_read"] / t["pandas_read_str"], None, None, "informative"),
        row(name, n, mb, "read+schema+encode", t["ours_pipeline"], t["pandas_read"], "s",
            pipe_ratio, TARGETS["read+schema+encode"], pipe_ratio <= TARGETS[
                "read+schema+encode"], "vs pandas read alone"),
        row(name, n, mb, "peak RSS", own / 1e6, reference / 1e6, "MB", mem_ratio,
            TARGETS["peak RSS"], mem_ratio <= TARGETS["peak RSS"],
            f"baseline = file + matrix ({memory['matrix_bytes'] / 1e6:.0f} MB); child "
            f"ru_maxrss {memory['ru_maxrss_bytes'] / 1e6:.0f} MB"),
    ]


def predict_model(info: dict, rows: int) -> tuple[Any, pd.DataFrame]:
    """A messy model (3 epochs, created_at left out) and its test rows."""
    from mlcore.model import ModelConfig
    from mlcore.training import TrainConfig
    from mlcore.workflow import fit

    frame = read_table(info["path"]).frame.iloc[:rows]
    schema = infer_schema(frame, info["label"]).with_column("created_at", role="ignore")
    prepared = prepare(frame, schema, test_fraction=0.2)
    run = fit(prepared, ModelConfig(hidden=(16, 16)),
              TrainConfig(epochs=3, batch_size=256, device="cpu"))
    return run.bundle, prepared.parts["test"]


def one_row(bundle: Any, test: pd.DataFrame) -> dict[str, Any]:
    """The first test row (feature columns, None for missing) that predicts without error."""
    from mlcore.predict import Predictor

    predictor = Predictor(bundle)
    for _, cells in test.head(200).iterrows():
        candidate = {c: (None if pd.isna(cells[c]) else str(cells[c]))
                     for c in bundle.encoder.input_columns}
        try:
            predictor.predict(candidate)
            return candidate
        except StudioError:
            continue
    raise RuntimeError("no test row of messy predicts without an error")


def per_call_us(fn: Callable[[], Any], repeat: int, block_s: float = 0.5) -> float:
    """Median over `repeat` blocks (each about block_s long) of µs per call of fn."""
    calls = 1
    while True:  # calibrate the block length
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - began >= block_s / 5:
            break
        calls *= 2
    calls = max(1, int(calls * block_s / max(time.perf_counter() - began, 1e-9)))
    blocks = []
    for _ in range(repeat):
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        blocks.append((time.perf_counter() - began) / calls * 1e6)
    return statistics.median(blocks)


def predict_rows(info: dict, rows: int, repeat: int, folder: Path) -> list[dict[str, Any]]:
    """One-row Predictor.predict(dict) vs onnxruntime on the raw-input export."""
    import onnxruntime
    import torch

    from mlcore.onnx_check import export_raw_onnx
    from mlcore.onnx_raw import raw_feeds
    from mlcore.predict import Predictor

    bundle, test = predict_model(info, rows)
    cells = one_row(bundle, test)
    path = folder / "messy_raw.onnx"
    export_raw_onnx(bundle, path, test.head(500))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = raw_feeds(bundle, pd.DataFrame([cells]))
    predictor = Predictor(bundle)
    ours_label = predictor.predict(cells).labels[0]
    onnx_label = str(session.run(None, feeds)[0][0])
    ours = per_call_us(lambda: predictor.predict(cells), max(repeat, 3))
    onnx = per_call_us(lambda: session.run(None, feeds), max(repeat, 3))
    ratio = ours / onnx
    note = (f"{bundle.encoder.n_features} features, torch threads {torch.get_num_threads()}, "
            f"labels {'agree' if ours_label == onnx_label else 'DIFFER'}")
    return [row("messy (model)", rows, Path(info["path"]).stat().st_size / 1e6,
                "predict 1 row", ours, onnx, "µs", ratio, TARGETS["predict 1 row"],
                ratio <= TARGETS["predict 1 row"], note)]


def price_rows(info: dict) -> list[dict[str, Any]]:
    """The decoy label refused quickly in one line; bins=4 giving 4 classes."""
    frame = read_table(info["path"]).frame
    mb, n = Path(info["path"]).stat().st_size / 1e6, info["rows"]
    began, message = time.perf_counter(), ""
    try:
        infer_schema(frame, info["decoy"])
    except StudioError as err:
        message = str(err)
    refused = time.perf_counter() - began
    good = bool(message) and "\n" not in message and "--bins" in message \
        and "distinct numeric values" in message
    began = time.perf_counter()
    prepared = prepare(frame, infer_schema(frame, info["decoy"], bins=4), test_fraction=0.2)
    binned = time.perf_counter() - began
    classes = prepared.encoder.class_names
    return [row("price", n, mb, "price refused", refused, None, "s", None,
                TARGETS["price refused"], good and refused < TARGETS["price refused"],
                message or "NOT REFUSED"),
            row("price", n, mb, "bins=4 (schema+encode)", binned, None, "s", None, None,
                len(classes) == 4, f"{len(classes)} classes: {', '.join(classes)}")]


def generate(folder: Path, sizes: dict[str, int]) -> dict[str, dict]:
    infos = {}
    for name, rows in sizes.items():
        began = time.perf_counter()
        infos[name] = GENERATORS[name](folder / file_name(name), rows)
        print(f"generated {name}: {rows:,} rows in {time.perf_counter() - began:.1f} s",
              file=sys.stderr, flush=True)
    return infos


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "µs":
        return f"{value:,.0f} µs"
    return f"{value:,.0f} MB" if unit == "MB" else f"{value:.3f} s"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| table | rows | MB | measure | ours | baseline | ratio | target | met? |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else ""
        target = ("< 1 s" if r["measure"] == "price refused" else f"≤ {r['target']:g}×") \
            if r["target"] is not None else ("4 classes" if r["measure"].startswith("bins")
                                             else "")
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['table']} | {r['rows']:,} | {r['mb']:.1f} | {r['measure']} | "
                     f"{fmt(r['ours'], r['unit'])} | {fmt(r['baseline'], r['unit'])} | "
                     f"{ratio} | {target} | {met} |")
    return "\n".join(lines)


def run_all(folder: Path, quick: bool, repeat: int) -> list[dict[str, Any]]:
    infos = generate(folder, QUICK if quick else FULL)
    rows: list[dict[str, Any]] = []
    for name in ("mixed", "messy", "wide", "price"):
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows += table_rows(infos[name], repeat)
    print("measuring one-row predict ...", file=sys.stderr, flush=True)
    rows += predict_rows(infos["messy"], min(PREDICT_ROWS["quick" if quick else "full"],
                                             infos["messy"]["rows"]), repeat, folder)
    rows += price_rows(infos["price"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, help="runs per measure (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small tables: a smoke run")
    parser.add_argument("--dir", type=Path, help="write the tables here (kept)")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = run_all(folder, args.quick, repeat)
    seconds = time.perf_counter() - began
    print(f"data_scale: {'quick' if args.quick else 'full'} sizes, median of {repeat}, "
          f"{os.cpu_count()} CPUs, {platform.python_version()}, pandas {pd.__version__}, "
          f"{seconds:.0f} s\n")
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"quick": args.quick, "repeat": repeat,
                                         "seconds": seconds, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
