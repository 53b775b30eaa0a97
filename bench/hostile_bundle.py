"""Hostile bundles: what `python -m mlcore predict` costs on a bundle that declares a huge network.

In one run, times and measures the peak RSS (the child's own ru_maxrss, from wait4) of
`python -m mlcore predict BUNDLE --row ...` on

  baseline  a valid small bundle (the students data, 6-(10-10)-3, a few epochs), which
            loads and predicts one row
  hostile   the same zip with bundle.json's model_config.hidden set to [50000, 50000]
            (2.5 billion parameters declared, 10 GB of float32), which must be refused
            from its declared size, before anything is allocated

and prints a markdown table with both and the ratio hostile/baseline. Each case runs
--repeat times, interleaved; medians are reported. Before the checks, the hostile zip
held 9.8 GB for 39 s.

Run from the repository root:
  .venv/bin/python bench/hostile_bundle.py               # 3 repeats
  .venv/bin/python bench/hostile_bundle.py --repeat 5
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mlcore.bundle import bundle_to_zip  # noqa: E402
from mlcore.model import ModelConfig  # noqa: E402
from mlcore.schema import infer_schema  # noqa: E402
from mlcore.table import read_table  # noqa: E402
from mlcore.training import TrainConfig  # noqa: E402
from mlcore.workflow import fit, prepare  # noqa: E402

ROW = "M,30.5,oklahoma,543"


def make_bundles(folder: Path) -> dict[str, Path]:
    """A valid small students bundle and its hostile copy (hidden [50000, 50000])."""
    table = read_table(ROOT / "data" / "students_train.tsv")
    bundle = fit(prepare(table.frame, infer_schema(table.frame)), ModelConfig(hidden=(10, 10)),
                 TrainConfig(epochs=5, device="cpu")).bundle
    data = bundle_to_zip(bundle)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        meta, weights = json.loads(archive.read("bundle.json")), archive.read("model.pt")
    meta["model_config"]["hidden"] = [50000, 50000]
    hostile = io.BytesIO()
    with zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bundle.json", json.dumps(meta, indent=1))
        archive.writestr("model.pt", weights)
    paths = {"baseline": folder / "valid.zip", "hostile": folder / "hostile.zip"}
    paths["baseline"].write_bytes(data)
    paths["hostile"].write_bytes(hostile.getvalue())
    return paths


def run_predict(bundle: Path) -> tuple[float, int, int, str]:
    """Wall seconds, peak RSS (bytes), exit code and last stderr line of one CLI run."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "mlcore", "predict", str(bundle),
                              "--row", ROW], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    stderr = child.stderr.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    lines = stderr.strip().splitlines()
    return wall, usage.ru_maxrss * 1024, child.returncode, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = make_bundles(Path(folder))
        sizes = {name: path.stat().st_size for name, path in paths.items()}
        runs: dict[str, list] = {name: [] for name in paths}
        for _ in range(args.repeat):
            for name, path in paths.items():
                runs[name].append(run_predict(path))
    wall = {name: statistics.median(r[0] for r in rs) for name, rs in runs.items()}
    peak = {name: statistics.median(r[1] for r in rs) for name, rs in runs.items()}
    print(f"median of {args.repeat} interleaved runs, `python -m mlcore predict BUNDLE "
          f"--row {ROW}`\n")
    print("| bundle | zip bytes | exit | wall s | peak RSS MB |")
    print("|---|---|---|---|---|")
    for name, rs in runs.items():
        print(f"| {name} | {sizes[name]:,} | {rs[0][2]} | {wall[name]:.2f} | "
              f"{peak[name] / 1e6:.0f} |")
    print(f"| hostile/baseline | | | {wall['hostile'] / wall['baseline']:.2f}× | "
          f"{peak['hostile'] / peak['baseline']:.2f}× |")
    print(f"\nhostile stderr: {runs['hostile'][0][3]}")


if __name__ == "__main__":
    main()
