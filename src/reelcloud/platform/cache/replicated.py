"""Replication across zones, the EVCache way.

Writes go to every zone at once; a zone that fails is counted and does not fail the caller
(short TTLs bound the damage). Reads go to the local zone; on a miss or an error they try one
other zone (EVCache's `fallback.zone` with `max.retry.count` 1).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from reelcloud.platform.cache.base import CacheStore
from reelcloud.platform.errors import UnavailableError

log = logging.getLogger(__name__)


class ReplicatedStore:
    def __init__(self, zones: dict[str, CacheStore], local_zone: str) -> None:
        if local_zone not in zones:
            raise ValueError(f"local zone {local_zone!r} has no cache store")
        self._zones = zones
        self.local_zone = local_zone
        self._others = [z for z in zones if z != local_zone]
        self._next_other = 0
        self.stats: Counter[str] = Counter()

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._zones[self.local_zone].get(key)
        except UnavailableError:
            self.stats[f"read_errors.{self.local_zone}"] += 1
            value = None
        if value is not None or not self._others:
            self.stats["hits" if value is not None else "misses"] += 1
            return value
        other = self._others[self._next_other % len(self._others)]
        self._next_other += 1
        self.stats["fallback_reads"] += 1
        try:
            value = await self._zones[other].get(key)
        except UnavailableError:
            self.stats[f"read_errors.{other}"] += 1
            value = None
        self.stats["hits" if value is not None else "misses"] += 1
        return value

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        await self._everywhere("set", lambda store: store.set(key, value, ttl_s))

    async def delete(self, key: str) -> None:
        await self._everywhere("delete", lambda store: store.delete(key))

    async def _everywhere(self, op: str, call: Callable[[CacheStore], Awaitable[None]]) -> None:
        stores = list(self._zones.values())
        results = await asyncio.gather(*(call(s) for s in stores), return_exceptions=True)
        for zone, result in zip(self._zones, results, strict=True):
            if isinstance(result, UnavailableError):
                self.stats[f"write_failures.{zone}"] += 1
                log.debug("cache %s to zone %s failed: %s", op, zone, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                self.stats["writes"] += 1

    async def aclose(self) -> None:
        for store in self._zones.values():
            await store.aclose()
