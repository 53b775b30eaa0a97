"""The memory budget: every step that allocates in proportion to the input (reading a file,
encoding a table) estimates its bytes first and is refused over this budget in one sentence."""
from __future__ import annotations

import os

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
    """Bytes in words: '812 MB', '4.1 GB'."""
    if n_bytes >= 1e9:
        return f"{n_bytes / 1e9:.1f} GB"
    return f"{n_bytes / 1e6:.0f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} kB"


def check_memory(estimate: float, what: str, advice: str) -> None:
    """Refuse `what` (e.g. "reading big.csv") when its estimated bytes exceed the budget."""
    budget = memory_budget()
    if estimate > budget:
        raise LimitError(f"{what} needs about {size_text(estimate)}, over the memory budget of "
                         f"{size_text(budget)} (set {ENV} to change it); {advice}")
