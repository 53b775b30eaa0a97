"""Training speed: mlcore's trainer against the articles' per-item DataLoader loop.

Trains the same MLP (mlcore.model.build_model, same seed) on the same data, in one run,
two ways, and prints wall seconds (and CPU seconds, which a busy shared machine disturbs
less), the ratio baseline/ours, rows per second and the fraction of this machine's
float32 matmul rate each trainer reaches:

  baseline  a per-item torch.utils.data.Dataset (__getitem__ returns one row's x and y)
            + DataLoader(batch_size, shuffle=True), model.train(), and per batch
            zero_grad / forward / loss / loss.item() / backward / step, as in the articles
  ours      mlcore.training.train(model, TrainData(X, y), TrainConfig(...)), no eval set

Scenarios:
  small  the articles' scale: 200 rows x 6 features, 3 classes, 6-(10-10)-3 tanh,
         SGD lr 0.01 momentum 0 (as in the articles), batch 10, 1000 epochs
  large  200,000 rows x 20 features, 4 classes, 20-(64-64)-4 relu,
         Adam lr 1e-3, batch 256, 3 epochs

Both trainers run at the same torch intra-op thread count (--threads, default 1, the
TrainConfig default); ours is also timed at 1 and 2 threads. Each measurement is repeated
--repeat times (interleaved) and the median is reported. The matmul rate is a 1024x1024 @
1024x1024 float32 torch.mm timed at the same thread count; training FLOPs are estimated
as 6 x parameters x rows x epochs (forward 2x, backward 4x the weight multiply-adds).

Run from the repository root:
  .venv/bin/python bench/train_speed.py                      # both scenarios, 3 repeats
  .venv/bin/python bench/train_speed.py --scenario small --repeat 5
  .venv/bin/python bench/train_speed.py --quick              # smoke run, a few seconds
  .venv/bin/python bench/train_speed.py --json out.json      # also write the numbers
  .venv/bin/python bench/train_speed.py --skip-threads       # no 2-thread runs (slow when
                                                              # the machine is busy)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlcore.model import ModelConfig, build_model, count_parameters, loss_function  # noqa: E402
from mlcore.training import TrainConfig, TrainData, train  # noqa: E402

TARGETS = {"small": 1.5, "large": 3.0}
SCENARIOS = {
    # rows, features, classes, model config, optimizer settings, epochs (full, quick)
    "small": dict(rows=200, features=6, classes=3, quick_rows=200,
                  model=ModelConfig(hidden=(10, 10), activation="tanh"),
                  opt=dict(optimizer="sgd", lr=0.01, momentum=0.0, batch_size=10),
                  epochs=1000, quick_epochs=50),
    "large": dict(rows=200_000, features=20, classes=4, quick_rows=20_000,
                  model=ModelConfig(hidden=(64, 64), activation="relu"),
                  opt=dict(optimizer="adam", lr=1e-3, batch_size=256),
                  epochs=3, quick_epochs=1),
}


def make_data(rows: int, features: int, classes: int, seed: int = 0):
    """Seeded synthetic classes: labels from a random nonlinear function of the features."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, features, generator=g)
    W1 = torch.randn(features, 16, generator=g)
    W2 = torch.randn(16, classes, generator=g)
    y = (torch.tanh(X @ W1) @ W2 + 0.5 * torch.randn(rows, classes, generator=g)).argmax(1)
    return X, y


class RowDataset(Dataset):
    """The articles' per-item Dataset: one row's x and y per __getitem__."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, idx: int):
        return self.X[idx], self.y[idx]


def run_baseline(sc: dict, X, y, epochs: int, threads: int) -> tuple[float, float, float]:
    """The articles' loop; returns (wall s, CPU s, last epoch's mean batch loss)."""
    torch.set_num_threads(threads)
    model = build_model(X.shape[1], sc["classes"], sc["model"], seed=1)
    opt = sc["opt"]
    if opt["optimizer"] == "sgd":  # torch defaults otherwise, as the articles write it
        optimizer = torch.optim.SGD(model.parameters(), lr=opt["lr"], momentum=opt["momentum"])
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=opt["lr"])
    torch.manual_seed(1)  # DataLoader's shuffle draws from the global generator
    began, cpu = time.perf_counter(), time.process_time()
    loader = DataLoader(RowDataset(X, y), batch_size=opt["batch_size"], shuffle=True)
    model.train()
    for _ in range(epochs):
        epoch_loss, batches = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            logits = model(xb)
            loss = loss_function(logits, yb)
            epoch_loss += loss.item()
            batches += 1
            loss.backward()
            optimizer.step()
    return time.perf_counter() - began, time.process_time() - cpu, epoch_loss / batches


def run_ours(sc: dict, X, y, epochs: int, threads: int) -> tuple[float, float, float]:
    """mlcore.training.train; returns (wall s, CPU s, last epoch's train loss)."""
    torch.set_num_threads(threads)
    model = build_model(X.shape[1], sc["classes"], sc["model"], seed=1)
    config = TrainConfig(epochs=epochs, threads=threads, device="cpu", **sc["opt"])
    began, cpu = time.perf_counter(), time.process_time()
    history = train(model, TrainData(X, y), config)
    return time.perf_counter() - began, time.process_time() - cpu, history.last.train_loss


def matmul_rate(threads: int, n: int = 1024, reps: int = 10) -> float:
    """float32 FLOP/s of an n x n @ n x n torch.mm at `threads` threads (median of reps)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        torch.mm(a, b)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def bench_scenario(name: str, quick: bool, repeat: int, threads: int, rates: dict,
                   compare_threads: bool = True) -> dict:
    sc = SCENARIOS[name]
    rows = sc["quick_rows"] if quick else sc["rows"]
    epochs = sc["quick_epochs"] if quick else sc["epochs"]
    X, y = make_data(rows, sc["features"], sc["classes"])
    params = count_parameters(build_model(sc["features"], sc["classes"], sc["model"]))
    flops = 6 * params * rows * epochs
    other = 2 if threads == 1 else 1
    plan = (("baseline", run_baseline, threads), ("ours", run_ours, threads),
            (f"ours_{other}t", run_ours, other))[:3 if compare_threads else 2]
    wall = {key: [] for key, _, _ in plan}
    cpu = {key: [] for key, _, _ in plan}
    losses = {}
    # warm-up: one short run of each so first-call costs are not timed
    run_baseline(sc, X[:1000], y[:1000], 1, threads)
    run_ours(sc, X[:1000], y[:1000], 1, threads)
    for r in range(repeat):  # interleaved, so background load hits all of them alike
        for key, fn, t in plan:
            seconds, cpu_seconds, loss = fn(sc, X, y, epochs, t)
            wall[key].append(seconds)
            cpu[key].append(cpu_seconds)
            losses[key] = loss
            print(f"  [{name} {r + 1}/{repeat}] {key:<9} {seconds:8.3f} s wall "
                  f"{cpu_seconds:8.3f} s cpu  loss {loss:.4f}", flush=True)
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result = {
        "rows": rows, "features": sc["features"], "classes": sc["classes"],
        "network": sc["model"].describe(sc["features"], sc["classes"]),
        "activation": sc["model"].activation, "parameters": params,
        **sc["opt"], "epochs": epochs, "threads": threads, "estimated_flops": flops,
        "target_ratio": TARGETS[name], "trainers": {},
    }
    for key, _, t in plan:
        result["trainers"][key] = {
            "threads": t, "seconds_median": med[key], "seconds_all": wall[key],
            "cpu_seconds_median": med_cpu[key], "cpu_seconds_all": cpu[key],
            "rows_per_s": rows * epochs / med[key],
            "matmul_fraction": flops / med[key] / rates[t],
            "final_train_loss": losses[key],
        }
    result["ratio"] = med["baseline"] / med["ours"]
    result["cpu_ratio"] = med_cpu["baseline"] / med_cpu["ours"]
    if compare_threads:
        result["ours_threads_1_s"] = med["ours"] if threads == 1 else med[f"ours_{other}t"]
        result["ours_threads_2_s"] = med["ours"] if threads == 2 else med[f"ours_{other}t"]
        result["faster_threads"] = 1 if result["ours_threads_1_s"] <= result["ours_threads_2_s"] \
            else 2
    result["meets_target"] = result["ratio"] >= TARGETS[name]
    return result


def print_table(results: dict, rates: dict) -> None:
    print()
    print("matmul rate (1024x1024 @ 1024x1024 float32 torch.mm): " +
          ", ".join(f"{t} thread{'s' if t > 1 else ''} {r / 1e9:.1f} GFLOP/s"
                    for t, r in rates.items()))
    print("wall s and rows/s are medians; % matmul = (6 x params x rows x epochs / wall s) "
          "/ matmul rate at the same threads")
    header = (f"{'scenario':<8} {'trainer':<10} {'thr':>3} {'wall s':>9} {'cpu s':>9} "
              f"{'rows/s':>11} {'% matmul':>9} {'loss':>7}")
    print(header)
    print("-" * len(header))
    for name, res in results.items():
        for key, t in res["trainers"].items():
            print(f"{name:<8} {key:<10} {t['threads']:>3} {t['seconds_median']:>9.3f} "
                  f"{t['cpu_seconds_median']:>9.3f} {t['rows_per_s']:>11,.0f} "
                  f"{100 * t['matmul_fraction']:>8.3f}% {t['final_train_loss']:>7.4f}")
        verdict = "meets" if res["meets_target"] else "MISSES"
        print(f"{name:<8} baseline/ours = {res['ratio']:.2f}x wall, {res['cpu_ratio']:.2f}x cpu "
              f"({verdict} target {res['target_ratio']}x)")
        if "faster_threads" not in res:
            print()
            continue
        print(f"{name:<8} ours at 1 thread {res['ours_threads_1_s']:.3f} s, at 2 threads "
              f"{res['ours_threads_2_s']:.3f} s: {res['faster_threads']} "
              f"thread{'s' if res['faster_threads'] > 1 else ''} faster")
        print()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", choices=("small", "large", "both"), default="both")
    p.add_argument("--quick", action="store_true", help="few epochs/rows: a smoke run")
    p.add_argument("--repeat", type=int, help="runs per trainer, median reported "
                   "(default 3, 1 with --quick)")
    p.add_argument("--threads", type=int, default=1, choices=(1, 2),
                   help="intra-op threads for the baseline vs ours comparison")
    p.add_argument("--skip-threads", action="store_true",
                   help="skip timing ours at the other thread count")
    p.add_argument("--json", type=Path, help="write the numbers as JSON to this path")
    args = p.parse_args()
    names = ("small", "large") if args.scenario == "both" else (args.scenario,)
    repeat = args.repeat or (1 if args.quick else 3)

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"python {platform.python_version()}")
    rates = {t: matmul_rate(t) for t in (1, 2)}
    results = {name: bench_scenario(name, args.quick, repeat, args.threads, rates,
                                    not args.skip_threads) for name in names}
    rates = {t: max(r, matmul_rate(t)) for t, r in rates.items()}  # re-measure, keep best
    for res in results.values():  # fractions against the final (best) rates
        for t in res["trainers"].values():
            t["matmul_fraction"] = (res["estimated_flops"] / t["seconds_median"]
                                    / rates[t["threads"]])
    print_table(results, rates)
    if args.json:
        args.json.write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "cpu_model": cpu_model(),
                        "torch": torch.__version__, "python": platform.python_version()},
            "quick": args.quick, "repeat": repeat,
            "matmul_flops_per_s": {str(t): r for t, r in rates.items()},
            "scenarios": results}, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
