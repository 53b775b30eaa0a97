"""The memory budget: every step that allocates in proportion to the input (reading a file,
encoding a table) estimates its bytes first and is refused over this budget in one sentence."""
from __future__ import annotations

import os
import resource

from .errors import LimitError

DEFAULT_MEMORY_MB = 4096
ENV = "STUDIO_MEMORY_MB"


def memory_budget() -> int:
    """The budget in bytes: STUDIO_MEMORY_MB (megabytes) or 4096 MB."""
    text = os.environ.get(ENV, "")
    try:
        megabytes = float(text) if text.strip() else DEFAULT_MEMORY_MB
    except ValueError:
        raise LimitError(f"{ENV}={text!r} is not a number of megabytes") from None
    if megabytes <= 0:
        raise LimitError(f"{ENV}={text!r} must be a positive number of megabytes")
    return int(megabytes * 1024 * 1024)


def size_text(n_bytes: float) -> str:
    """Bytes in words, in the binary units STUDIO_MEMORY_MB and the uploader use:
    '812 MB', '4.0 GB' (4096 MB)."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:.1f} GB"
    if n_bytes >= 2**20:
        return f"{n_bytes / 2**20:.0f} MB"
    return f"{n_bytes / 2**10:.0f} kB" if n_bytes >= 2**10 else f"{n_bytes:.0f} B"


def check_memory(estimate: float, what: str, advice: str) -> None:
    """Refuse `what` (e.g. "reading big.csv") when its estimated bytes exceed the budget."""
    budget = memory_budget()
    if estimate > budget:
        raise LimitError(f"{what} needs about {size_text(estimate)}, over the memory budget of "
                         f"{size_text(budget)} (set {ENV} to change it); {advice}")


def peak_memory_mb() -> float:
    """This process's peak resident memory in MB: VmHWM (which, unlike ru_maxrss, does not
    carry over the peak of the process that started this one), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
