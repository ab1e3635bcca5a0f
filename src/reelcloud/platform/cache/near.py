"""The near cache: this process's own copy of what it looked up, in front of the replicated
store (EVCache clients keep one as well). A hit costs a dict lookup and no network.

It holds decoded values (a near hit decodes nothing) and keeps each entry for as long as it
may still serve — fresh, then as a stale fallback — up to a bound on the number of entries,
least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from reelcloud.platform.cache.entry import Entry
from reelcloud.platform.clock import Clock, SystemClock


class NearCache:
    def __init__(self, *, max_entries: int = 100_000, clock: Clock | None = None) -> None:
        if max_entries < 1:
            raise ValueError("a near cache holds at least one entry")
        self._clock = clock or SystemClock()
        self._max_entries = max_entries
        # key -> (entry, the wall-clock time after which it serves nobody)
        self._entries: OrderedDict[str, tuple[Entry[Any], float]] = OrderedDict()

    def get(self, key: str) -> Entry[Any] | None:
        held = self._entries.get(key)
        if held is None:
            return None
        entry, until = held
        if self._clock.now() >= until:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry[Any], keep_s: float) -> None:
        """Hold `entry` until `keep_s` after it was written (not after now: a replica entry
        copied here is as old as it was there)."""
        current = self._entries.get(key)
        if current is not None and current[0].written_at > entry.written_at:
            return  # never replace a newer answer with an older one
        self._entries[key] = (entry, entry.written_at + keep_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
