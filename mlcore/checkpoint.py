"""Training checkpoints: model, optimizer, epoch, RNG states and history in one file.

Written with torch.save of plain tensors and containers, read back with weights_only=True.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import BundleError

FORMAT = "classifier-studio-checkpoint/1"


@dataclass
class CheckpointInfo:
    """What a listing shows: where the file is, its epoch and that epoch's metrics."""

    path: Path
    epoch: int
    stats: dict


def checkpoint_path(directory: Path, epoch: int) -> Path:
    return Path(directory) / f"epoch-{epoch:05d}.pt"


def save_checkpoint(directory: Path, state: dict) -> Path:
    """Write `state` (must hold 'epoch') atomically as epoch-NNNNN.pt in `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, state["epoch"])
    partial = path.with_suffix(".part")
    torch.save({"format": FORMAT, **state}, partial)
    partial.replace(path)
    return path


def load_checkpoint(path: Path | str) -> dict:
    """Read a checkpoint safely (no unpickling of arbitrary objects)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BundleError(f"{path}: no such checkpoint file") from None
    except Exception as err:  # damaged or foreign file: one line, no traceback
        raise BundleError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise BundleError(f"{path}: not a Classifier Studio checkpoint")
    return state


def list_checkpoints(directory: Path | str) -> list[CheckpointInfo]:
    """Checkpoints in `directory`, oldest epoch first, with the metrics of their epoch."""
    found = []
    for path in sorted(Path(directory).glob("epoch-*.pt")):
        state = load_checkpoint(path)
        history = state.get("history", [])
        found.append(CheckpointInfo(path, int(state["epoch"]), history[-1] if history else {}))
    return found
