"""A server-wide cache bounded by entries and by bytes, least recently used out first.

Streamlit's st.cache_data bounds entries only; an upload parsed to a 1M-row table weighs
hundreds of MB, so the server keeps parsed tables here, keyed by the upload's content hash
(the same bytes uploaded by twenty people are parsed and stored once).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")


def content_key(data: bytes, *rest: Hashable) -> tuple:
    """The cache key of some bytes (their SHA-256) and the options they were read with."""
    return (hashlib.sha256(data).hexdigest(), *rest)


class BoundedCache:
    """get_or_make(key, make, size): a value made once per key while it stays cached."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return sum(size for _, size in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get_or_make(self, key: Hashable, make: Callable[[], T], size: Callable[[T], int]) -> T:
        """The cached value, else make() it and keep it if it fits (an entry bigger than
        max_bytes is returned but not kept). Errors from make() are not cached."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = make()  # outside the lock: parsing one upload must not block the others
        n = size(value)
        with self._lock:
            if n <= self.max_bytes:
                self._items[key] = (value, n)
                self._items.move_to_end(key)
                while len(self._items) > self.max_entries or self.nbytes > self.max_bytes:
                    self._items.popitem(last=False)
        return value
