"""Training checkpoints: model, optimizer, epoch, RNG states and history in one file.

Written with torch.save of plain tensors and containers, read back with weights_only=True.
Each also holds a fingerprint of what it was trained for, checked before a run resumes.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .errors import BundleError, ResumeError

if TYPE_CHECKING:
    from .encoder import Encoder
    from .model import ModelConfig
    from .schema import Schema
    from .training import TrainConfig

FORMAT = "classifier-studio-checkpoint/1"
KEEP = 3  # checkpoints kept per run folder, newest; older ones are deleted (disk stays bounded)
# TrainConfig fields a resumed run must share; the others (epochs, checkpoint_every, device,
# threads) may change
TRAINING_SETTINGS = ("optimizer", "lr", "momentum", "batch_size", "weight_decay", "seed",
                     "patience")
# fingerprint fields held as a hash, named in words when they differ
HASHED = {"schema": "another schema (columns, roles, kinds)",
          "encoding": "another encoding (other training rows, scalings, categories or classes)"}


@dataclass
class CheckpointInfo:
    """What a listing shows: where the file is, its epoch, when it was saved (Unix time)
    and that epoch's metrics."""

    path: Path
    epoch: int
    stats: dict
    saved_at: float = 0.0


def checkpoint_path(directory: Path, epoch: int) -> Path:
    return Path(directory) / f"epoch-{epoch:05d}.pt"


def save_checkpoint(directory: Path, state: dict) -> Path:
    """Write `state` (must hold 'epoch') atomically as epoch-NNNNN.pt in `directory`, with
    its epoch, time and metrics beside it in epoch-NNNNN.json; then delete all but the KEEP
    newest checkpoints there."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, state["epoch"])
    partial = path.with_suffix(".part")
    torch.save({"format": FORMAT, **state}, partial)
    partial.replace(path)
    history = state.get("history") or [{}]
    meta = {"epoch": state["epoch"], "saved_at": time.time(), "stats": history[-1]}
    path.with_suffix(".json").write_text(json.dumps(meta))  # listings read this, not the .pt
    for old in sorted(directory.glob("epoch-*.pt"))[:-KEEP]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return path


def _digest(data: dict) -> str:
    """A short sha256 of `data` as sorted JSON: equal content, equal digest."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(schema: Schema, encoder: Encoder, model_config: ModelConfig,
                train_config: TrainConfig) -> dict:
    """What a run is trained for, as plain JSON values, in the order differences are named:
    the clearer cause first (the schema before the feature count it changes)."""
    # Schema.to_dict() less each column's note: the note explains an inference, trains nothing
    columns = [{"name": c.name, "role": c.role, "kind": c.kind} for c in schema.columns]
    return {"label": schema.label, "schema": _digest({"columns": columns}),
            "scaling": encoder.scaling, "hidden": list(model_config.hidden),
            "activation": model_config.activation, "dropout": model_config.dropout,
            "binary_head": model_config.binary_head,
            **({"ensemble": model_config.ensemble} if model_config.ensemble != 1 else {}),
            **({"init": model_config.init} if model_config.init != "torch" else {}),
            **{name: getattr(train_config, name) for name in TRAINING_SETTINGS},
            "n_features": encoder.n_features, "n_classes": len(encoder.class_names),
            "encoding": _digest(encoder.to_dict())}


def _shown(value: object) -> str:
    """A fingerprint value as a person writes it: hidden sizes as 10,10."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def check_fingerprint(saved: dict | None, current: dict, where: str) -> None:
    """Refuse, in one line naming the first difference, a checkpoint trained for something
    else than the run about to resume from it (or too old to say what it was trained for)."""
    if not saved:
        raise ResumeError(f"{where} does not record the settings it was trained with (an "
                          "older checkpoint); start a new run")
    for name in dict.fromkeys([*current, *saved]):
        was, now = saved.get(name), current.get(name)
        if was == now:
            continue
        what = HASHED.get(name) or f"{name}={_shown(was)}, not {_shown(now)}"
        raise ResumeError(f"{where} was trained with {what}; resume with the same settings "
                          "or start a new run")


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
    """Checkpoints in `directory`, newest epoch first, from their .json metadata (a .pt
    without one, from an older version, is loaded to list it)."""
    found = []
    for path in sorted(Path(directory).glob("epoch-*.pt"), reverse=True):
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            found.append(CheckpointInfo(path, int(meta["epoch"]), meta.get("stats") or {},
                                        float(meta.get("saved_at", 0.0))))
        except (OSError, ValueError, KeyError, TypeError):
            state = load_checkpoint(path)
            history = state.get("history", [])
            found.append(CheckpointInfo(path, int(state["epoch"]), history[-1] if history else {},
                                        path.stat().st_mtime))
    return found
