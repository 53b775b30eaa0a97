"""Split rows into train and test (and validation) sets, stratified by class and seeded."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import SchemaError


def stratified_split(frame: pd.DataFrame, label: str, fraction: float,
                     seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (rest, held_out) with about `fraction` of each class held out; same seed, same split."""
    if not 0.0 < fraction < 1.0:
        raise SchemaError(f"the held-out fraction must be between 0 and 1 (got {fraction})")
    rng = np.random.default_rng(seed)
    held: list[int] = []
    labels = frame[label].astype(str).to_numpy()
    for cls in sorted(set(labels)):
        positions = np.flatnonzero(labels == cls)
        rng.shuffle(positions)
        take = int(round(len(positions) * fraction))
        if len(positions) >= 2:
            take = min(max(take, 1), len(positions) - 1)
        else:
            take = 0
        held.extend(positions[:take].tolist())
    mask = np.zeros(len(frame), dtype=bool)
    mask[held] = True
    if mask.all() or not mask.any():
        raise SchemaError(f"too few rows ({len(frame)}) to hold out {fraction:.0%} of them")
    return frame[~mask], frame[mask]
