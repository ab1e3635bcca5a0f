"""Replication across zones, the EVCache way.

Writes go to every zone at once; a zone that fails is counted and does not fail the caller
(short TTLs bound the damage). Reads go to the local zone; on a miss or an error they try one
other zone (EVCache's `fallback.zone` with `max.retry.count` 1).

A zone that failed is skipped for `down_s` (reads go straight to another zone, writes leave
it out), then tried again: a dead or hung zone costs one failed call per `down_s`, not a
timeout on every read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from reelcloud.platform.cache.base import CacheStore
from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import UnavailableError

log = logging.getLogger(__name__)


class ReplicatedStore:
    def __init__(
        self,
        zones: dict[str, CacheStore],
        local_zone: str,
        *,
        down_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if local_zone not in zones:
            raise ValueError(f"local zone {local_zone!r} has no cache store")
        self._zones = zones
        self.local_zone = local_zone
        self._others = [z for z in zones if z != local_zone]
        self._next_other = 0
        self._down_s = down_s
        self._clock = clock or SystemClock()
        self._down_until: dict[str, float] = {}
        self.stats: Counter[str] = Counter()

    @property
    def zones(self) -> list[str]:
        return list(self._zones)

    def is_down(self, zone: str) -> bool:
        until = self._down_until.get(zone)
        if until is None:
            return False
        if self._clock.monotonic() >= until:
            del self._down_until[zone]  # time to try it again
            return False
        return True

    def _failed(self, zone: str) -> None:
        self._down_until[zone] = self._clock.monotonic() + self._down_s

    async def get(self, key: str) -> bytes | None:
        value = await self._read(self.local_zone, key)
        if value is not None or not self._others:
            self.stats["hits" if value is not None else "misses"] += 1
            return value
        other = self._others[self._next_other % len(self._others)]
        self._next_other += 1
        self.stats["fallback_reads"] += 1
        value = await self._read(other, key)
        self.stats["hits" if value is not None else "misses"] += 1
        return value

    async def _read(self, zone: str, key: str) -> bytes | None:
        if self.is_down(zone):
            self.stats[f"skipped_reads.{zone}"] += 1
            return None
        try:
            return await self._zones[zone].get(key)
        except UnavailableError:
            self.stats[f"read_errors.{zone}"] += 1
            self._failed(zone)
            return None

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        await self._everywhere("set", lambda store: store.set(key, value, ttl_s), skip_down=True)

    async def delete(self, key: str) -> None:
        # A delete is an invalidation: every zone is asked, down or not.
        await self._everywhere("delete", lambda store: store.delete(key), skip_down=False)

    async def _everywhere(
        self, op: str, call: Callable[[CacheStore], Awaitable[None]], *, skip_down: bool
    ) -> None:
        zones = []
        for zone in self._zones:
            if skip_down and self.is_down(zone):
                self.stats[f"skipped_writes.{zone}"] += 1
            else:
                zones.append(zone)
        results = await asyncio.gather(
            *(call(self._zones[z]) for z in zones), return_exceptions=True
        )
        for zone, result in zip(zones, results, strict=True):
            if isinstance(result, UnavailableError):
                self.stats[f"write_failures.{zone}"] += 1
                self._failed(zone)
                log.debug("cache %s to zone %s failed: %s", op, zone, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                self.stats["writes"] += 1

    async def aclose(self) -> None:
        for store in self._zones.values():
            await store.aclose()
