"""Short-lived in-process caches of dependency answers, so a busy Play API asks accounts,
catalog and steering once per member, title and network every few seconds instead of on every
play. Entries past their TTL are still handed to fallbacks (stale beats nothing when the
dependency is down)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(
        self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def fresh(self, key: K) -> V | None:
        """The value if younger than the TTL."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry[0] < self.ttl_s:
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def stale(self, key: K) -> V | None:
        """The value whatever its age (for fallbacks)."""
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self._clock(), value)
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)
