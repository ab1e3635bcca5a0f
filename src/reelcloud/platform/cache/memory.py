"""An in-process TTL cache with a size bound (least recently used entries go first)."""

from __future__ import annotations

from collections import OrderedDict

from reelcloud.platform.clock import Clock, SystemClock


class MemoryStore:
    def __init__(self, *, max_entries: int = 100_000, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if self._clock.monotonic() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self._entries[key] = (self._clock.monotonic() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def aclose(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
