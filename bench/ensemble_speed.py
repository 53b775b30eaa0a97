"""How much an ensemble of K members costs to train, at the articles' scale: the students
table (200 rows, 6 encoded features), 6-(10-10)-3 tanh, SGD lr 0.01 momentum 0, batch 10,
1000 epochs, one thread; K=1 and K=16 (and any --members) interleaved, median wall and
CPU seconds (CPU time moves less than wall time on a shared machine).

    PYTHONPATH=. .venv/bin/python bench/ensemble_speed.py [--members 1 4 16 32]
        [--repeat 3] [--epochs 1000] [--engine auto|autograd] [--profile]

--profile: instead, torch.profiler's table of the ops (self CPU time, calls) of one
100-epoch run per member count: where the extra time of K members goes.
"""
from __future__ import annotations

import argparse
import statistics
import time

import mlcore.training as training
from mlcore.model import ModelConfig, build_model
from mlcore.samples import get_sample
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.training import TrainConfig, TrainData
from mlcore.workflow import prepare


def students() -> TrainData:
    """The 200 students training rows encoded as the articles encode them (no eval set)."""
    sample = get_sample("students")
    frames = [read_table(path, header=False).frame
              for path in (sample.train_path(), sample.test_path())]
    for frame in frames:
        frame.columns = list(sample.columns)
    prepared = prepare(frames[0], infer_schema(frames[0], label=sample.label),
                       test_frame=frames[1], scaling="divisor")
    data = prepared.train_data()
    return TrainData(data.X, data.y)


def time_one(data: TrainData, members: int, epochs: int) -> tuple[float, float]:
    """Wall and CPU seconds of one train() call with `members` members."""
    model = build_model(data.X.shape[1], 3, ModelConfig(hidden=(10, 10), activation="tanh",
                                                       ensemble=members), seed=1)
    config = TrainConfig(optimizer="sgd", lr=0.01, momentum=0.0, batch_size=10, epochs=epochs,
                         device="cpu", threads=1)
    began, cpu = time.perf_counter(), time.process_time()
    training.train(model, data, config)
    return time.perf_counter() - began, time.process_time() - cpu


def profile(data: TrainData, members: list[int]) -> None:
    """The ops of one 100-epoch run per member count, by self CPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    for k in members:
        with profiler(activities=[ProfilerActivity.CPU]) as prof:
            time_one(data, k, 100)
        print(f"K={k}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--engine", choices=("auto", "autograd"), default="auto")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    training.ENGINE = args.engine
    data = students()
    if args.profile:
        profile(data, args.members)
        return
    times: dict[int, list[tuple[float, float]]] = {k: [] for k in args.members}
    for _ in range(args.repeat):
        for k in args.members:
            times[k].append(time_one(data, k, args.epochs))
    first = args.members[0]
    base = [statistics.median(t[i] for t in times[first]) for i in (0, 1)]
    print(f"| members | wall s | CPU s | CPU µs per step | wall, CPU vs K={first} |")
    print("|---|---|---|---|---|")
    steps = args.epochs * -(-len(data.X) // 10)
    for k in args.members:
        wall, cpu = (statistics.median(t[i] for t in times[k]) for i in (0, 1))
        print(f"| {k} | {wall:.3f} | {cpu:.3f} | {cpu / steps * 1e6:.1f} | "
              f"{wall / base[0]:.2f}×, {cpu / base[1]:.2f}× |")


if __name__ == "__main__":
    main()
