"""Training speed: mlcore's trainer against the articles' per-item DataLoader loop.

Trains the same MLP (mlcore.model.build_model, same seed) on the same data, in one run,
two ways, and prints wall seconds, the ratio baseline/ours, rows per second and the
fraction of this machine's float32 matmul rate each trainer reaches:

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
from mlcore.training import TrainConfig, TrainData, make_optimizer, train  # noqa: E402

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


def run_baseline(sc: dict, X, y, epochs: int, threads: int) -> tuple[float, float]:
    """The articles' loop; returns (wall seconds, last epoch's mean batch loss)."""
    torch.set_num_threads(threads)
    model = build_model(X.shape[1], sc["classes"], sc["model"], seed=1)
    config = TrainConfig(epochs=epochs, threads=threads, device="cpu", **sc["opt"])
    optimizer = make_optimizer(model, config)  # same optimizer construction as ours
    torch.manual_seed(1)  # DataLoader's shuffle draws from the global generator
    began = time.perf_counter()
    loader = DataLoader(RowDataset(X, y), batch_size=config.batch_size, shuffle=True)
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
    return time.perf_counter() - began, epoch_loss / batches


def run_ours(sc: dict, X, y, epochs: int, threads: int) -> tuple[float, float]:
    """mlcore.training.train; returns (wall seconds, last epoch's train loss)."""
    torch.set_num_threads(threads)
    model = build_model(X.shape[1], sc["classes"], sc["model"], seed=1)
    config = TrainConfig(epochs=epochs, threads=threads, device="cpu", **sc["opt"])
    began = time.perf_counter()
    history = train(model, TrainData(X, y), config)
    return time.perf_counter() - began, history.last.train_loss


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


def bench_scenario(name: str, quick: bool, repeat: int, threads: int, rates: dict) -> dict:
    sc = SCENARIOS[name]
    rows = sc["quick_rows"] if quick else sc["rows"]
    epochs = sc["quick_epochs"] if quick else sc["epochs"]
    X, y = make_data(rows, sc["features"], sc["classes"])
    params = count_parameters(build_model(sc["features"], sc["classes"], sc["model"]))
    flops = 6 * params * rows * epochs
    other = 2 if threads == 1 else 1
    runs = {"baseline": [], "ours": [], f"ours_{other}t": []}
    losses = {}
    # warm-up: one short run of each so first-call costs are not timed
    run_baseline(sc, X[:1000], y[:1000], 1, threads)
    run_ours(sc, X[:1000], y[:1000], 1, threads)
    for r in range(repeat):  # interleaved, so background load hits all of them alike
        for key, fn, t in (("baseline", run_baseline, threads), ("ours", run_ours, threads),
                           (f"ours_{other}t", run_ours, other)):
            seconds, loss = fn(sc, X, y, epochs, t)
            runs[key].append(seconds)
            losses[key] = loss
            print(f"  [{name} {r + 1}/{repeat}] {key:<9} {seconds:8.3f} s  loss {loss:.4f}",
                  flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    thread_of = {"baseline": threads, "ours": threads, f"ours_{other}t": other}
    result = {
        "rows": rows, "features": sc["features"], "classes": sc["classes"],
        "network": sc["model"].describe(sc["features"], sc["classes"]),
        "activation": sc["model"].activation, "parameters": params,
        **{k: v for k, v in sc["opt"].items()}, "epochs": epochs,
        "threads": threads, "estimated_flops": flops,
        "target_ratio": TARGETS[name],
        "trainers": {},
    }
    for key, seconds in med.items():
        result["trainers"][key] = {
            "threads": thread_of[key], "seconds_median": seconds, "seconds_all": runs[key],
            "rows_per_s": rows * epochs / seconds,
            "matmul_fraction": flops / seconds / rates[thread_of[key]],
            "final_train_loss": losses[key],
        }
    result["ratio"] = med["baseline"] / med["ours"]
    result["ours_threads_1_s"] = med["ours"] if threads == 1 else med[f"ours_{other}t"]
    result["ours_threads_2_s"] = med["ours"] if threads == 2 else med[f"ours_{other}t"]
    result["faster_threads"] = 1 if result["ours_threads_1_s"] <= result["ours_threads_2_s"] else 2
    result["meets_target"] = result["ratio"] >= TARGETS[name]
    return result


def print_table(results: dict, rates: dict) -> None:
    print()
    print("matmul rate (1024^3 float32 torch.mm): " +
          ", ".join(f"{t} thread{'s' if t > 1 else ''} {r / 1e9:.1f} GFLOP/s"
                    for t, r in rates.items()))
    header = (f"{'scenario':<8} {'trainer':<10} {'thr':>3} {'seconds':>9} {'rows/s':>11} "
              f"{'% matmul':>9} {'loss':>7}")
    print(header)
    print("-" * len(header))
    for name, res in results.items():
        for key, t in res["trainers"].items():
            print(f"{name:<8} {key:<10} {t['threads']:>3} {t['seconds_median']:>9.3f} "
                  f"{t['rows_per_s']:>11,.0f} {100 * t['matmul_fraction']:>8.3f}% "
                  f"{t['final_train_loss']:>7.4f}")
        verdict = "meets" if res["meets_target"] else "MISSES"
        print(f"{name:<8} ratio baseline/ours = {res['ratio']:.2f}x "
              f"({verdict} target {res['target_ratio']}x); ours 1 thread "
              f"{res['ours_threads_1_s']:.3f} s vs 2 threads {res['ours_threads_2_s']:.3f} s "
              f"-> {res['faster_threads']} faster")
        print()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", choices=("small", "large", "both"), default="both")
    p.add_argument("--quick", action="store_true", help="few epochs/rows: a smoke run")
    p.add_argument("--repeat", type=int, default=3, help="runs per trainer; median reported")
    p.add_argument("--threads", type=int, default=1, choices=(1, 2),
                   help="intra-op threads for the baseline vs ours comparison")
    p.add_argument("--json", type=Path, help="write the numbers as JSON to this path")
    args = p.parse_args()
    names = ("small", "large") if args.scenario == "both" else (args.scenario,)
    repeat = 1 if args.quick and args.repeat == 3 else args.repeat

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"python {platform.python_version()}")
    rates = {t: matmul_rate(t) for t in (1, 2)}
    results = {name: bench_scenario(name, args.quick, repeat, args.threads, rates)
               for name in names}
    rates = {t: max(r, matmul_rate(t)) for t, r in rates.items()}  # re-measure, keep best
    for res in results.values():  # fractions against the final (best) rates
        for t in res["trainers"].values():
            t["matmul_fraction"] = res["estimated_flops"] / t["seconds_median"] / rates[t["threads"]]
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
