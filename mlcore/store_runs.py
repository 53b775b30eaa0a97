"""A run as the store keeps it: RunRow (what lists, run pages and compare read) and the
column values a trained Bundle and its timings become."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .bundle import Bundle
from .errors import StoreError

STATUSES = {"": "finished", "early": "early-stopped", "user": "stopped"}  # by History.stopped


@dataclass(frozen=True)
class RunRow:
    """One recorded run. `metrics` (train/test/validation reports as the bundle stores
    them) and `history` (the curves) are None in list_runs and filled by get_run."""

    id: int
    created: datetime
    data_name: str
    dataset_hash: str | None
    label: str
    class_names: list[str]
    architecture: str
    status: str              # finished | early-stopped | stopped
    epochs: int              # epochs actually run
    seed: int
    test_accuracy: float | None
    train_accuracy: float | None
    pinned: bool
    parent: int | None       # the run this one resumed or continued
    bundle_size: int         # bytes of the stored zip
    schema: dict             # the schema choices, Schema.to_dict()
    model_config: dict
    train_config: dict
    timings: dict            # e.g. read_seconds, prepare_seconds, train_seconds
    confusion: list[list[int]] | None   # the test rows' confusion matrix
    metrics: dict | None = None
    history: dict | None = None

    @property
    def train_seconds(self) -> float | None:
        return self.timings.get("train_seconds")


def _accuracy(metrics: dict, part: str) -> float | None:
    report = metrics.get(part) or {}
    return report.get("accuracy")


def run_values(bundle: Bundle, data_name: str, status: str | None,
               timings: dict | None) -> dict:
    """The runs-table columns of a trained bundle (status from its history unless given;
    the training time from its history unless `timings` has one)."""
    history = bundle.history or {}
    status = status or STATUSES.get(history.get("stopped", ""), "finished")
    if status not in STATUSES.values():
        raise StoreError(f"A run's status is one of {', '.join(STATUSES.values())} "
                         f"(got {status!r}).")
    timings = {k: float(v) for k, v in (timings or {}).items()}
    if "train_seconds" not in timings and history.get("train_seconds") is not None:
        timings["train_seconds"] = float(history["train_seconds"])
    test = bundle.metrics.get("test") or {}
    return {"data_name": data_name[:255], "label": bundle.schema.label,
            "class_names": list(bundle.class_names), "architecture": bundle.architecture,
            "schema_choices": bundle.schema.to_dict(),
            "model_config": bundle.model_config.to_dict(),
            "train_config": bundle.train_config.to_dict(), "seed": bundle.train_config.seed,
            "status": status, "epochs": len(history.get("epochs", [])),
            "history": bundle.history, "metrics": bundle.metrics,
            "confusion": test.get("confusion"), "timings": timings,
            "test_accuracy": _accuracy(bundle.metrics, "test"),
            "train_accuracy": _accuracy(bundle.metrics, "train")}


def run_row(row, full: bool) -> RunRow:
    """A RunRow from a runs-table row (with metrics and history when `full`)."""
    return RunRow(row.id, row.created, row.data_name, row.dataset_hash, row.label,
                  list(row.class_names), row.architecture, row.status, row.epochs, row.seed,
                  row.test_accuracy, row.train_accuracy, bool(row.pinned), row.parent,
                  row.bundle_size, row.schema_choices, row.model_config, row.train_config,
                  row.timings, row.confusion, row.metrics if full else None,
                  row.history if full else None)
