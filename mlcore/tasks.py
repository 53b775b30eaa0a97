"""What a training worker runs, wherever it runs (a local process or a Ray worker).

A job is plain data: {"task": "fit" | "search" | "overfit", "args": keyword arguments,
"limits": ...}. `run_task` runs it, streams ("epoch", EpochStats), ("batch", (epoch, done,
rows)) and, for a search, ("trial", TrialRecord) events through `emit`, and returns the one
final event: ("done", result) or ("failed", sentence).
The same function on the same data gives the same weights on either kind of worker.
"""
from __future__ import annotations

import traceback
from typing import Callable, Protocol

from .baselines import with_baselines
from .budget import size_text
from .errors import StudioError
from .explain import with_importance
from .sanity import overfit_check
from .search import search
from .workflow import fit


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


def finish_run(run, prepared):
    """What every trained model carries beside its weights, computed where it trained:
    permutation importance and the baselines on the same test rows."""
    return with_baselines(with_importance(run, prepared), prepared)


def _fit(args: dict, emit: Callable[[tuple], None], stop: StopFlag):
    run = fit(**args, on_epoch=lambda stats: emit(("epoch", stats)),
              on_batch=lambda *rows: emit(("batch", rows)), stop=stop)
    return finish_run(run, args["prepared"])


def _search(args: dict, emit: Callable[[tuple], None], stop: StopFlag):
    """Optuna trials on the validation part; the best trial's run is the model, and every
    trial's record rides in its bundle's metrics ("search")."""
    found = search(**args, on_trial=lambda record: emit(("trial", record)),
                   on_epoch=lambda number, stats: emit(("epoch", stats)), stop=stop)
    run = finish_run(found.run, args["prepared"])
    run.bundle.metrics["search"] = found.to_dict()
    run.trials = found.others()
    return run


def _overfit(args: dict, emit: Callable[[tuple], None], stop: StopFlag):
    return overfit_check(**args)


TASKS = {"fit": _fit, "search": _search, "overfit": _overfit}


def out_of_memory(err: BaseException) -> bool:
    """MemoryError, or torch's allocator refusing (RLIMIT_AS reached inside C++)."""
    return isinstance(err, MemoryError) or (
        isinstance(err, RuntimeError) and "can't allocate memory" in str(err))


def run_task(payload: dict, emit: Callable[[tuple], None], stop: StopFlag) -> tuple:
    """Run one job to its final event; never raises for a job's own failure."""
    memory = (payload.get("limits") or {}).get("memory_bytes")
    try:
        return "done", TASKS[payload["task"]](payload["args"], emit, stop)
    except StudioError as err:
        return "failed", str(err)
    except Exception as err:  # one line for the user; the traceback goes to the log
        if out_of_memory(err):
            limit = f" of {size_text(memory)}" if memory else ""
            return "failed", (f"the job went past its memory limit{limit} and was stopped; "
                              "use fewer rows, fewer columns or a smaller network")
        traceback.print_exc()
        return "failed", f"training failed: {type(err).__name__}: {err}"
