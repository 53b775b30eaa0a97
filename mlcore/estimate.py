"""A training run's time, estimated before it starts, from figures measured on our CI-class
machine (docs/benchmarks.md, training speed): a fixed cost per batch step plus the matrix
products at the rate the CPU engine reaches. Rough (within ~2× either way), for the page's
"about N s" and for refusing settings no job could finish within its wall-time limit.
"""
from __future__ import annotations

MAX_EPOCHS = 100_000
STEP_SECONDS = 30e-6        # per batch step, small networks (0.645 s / 20,000 steps)
MEMBER_STEP = 0.096         # extra share of a step per extra ensemble member (K=16: 2.44x)
FLOPS_PER_SECOND = 6.8e10   # multiply-adds x 2 per second on one thread (41% of 166 GFLOP/s)


def training_seconds(parameters: int, train_rows: int, eval_rows: int, batch_size: int,
                     epochs: int, members: int = 1) -> float:
    """Seconds for `epochs` over `train_rows` (forward + backward: ~6 flops per parameter
    per row) with an evaluation pass over `eval_rows` (~2 per parameter per row) each epoch;
    an ensemble's steps cost more per call (bench/ensemble_speed.py)."""
    steps = -(-train_rows // max(1, batch_size))
    flops = 6.0 * parameters * train_rows + 2.0 * parameters * eval_rows
    step = STEP_SECONDS * (1 + MEMBER_STEP * (max(1, members) - 1))
    return epochs * (steps * step + flops / FLOPS_PER_SECOND)


def duration_text(seconds: float) -> str:
    """'about 40 s', 'about 12 min', 'about 3.5 h'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"
