"""Cache-aside, written once: a dependency's answer looked up near → replicated → the call,
with the last answer kept as a fallback for when the call fails.

    titles = lookups.lookup("title", ProtobufCodec(Title), fresh_s=30, stale_s=86400)
    title = await titles.get(title_id, lambda: catalog.call("GetTitle", request))

1. the near cache, fresh (answered less than `fresh_s` ago): the value, no I/O;
2. the replicated store — the local zone, then another (`ReplicatedStore`) — fresh: the value,
   copied near;
3. the call; its answer goes near at once and to every zone in the background (the caller
   does not wait for memcached writes);
4. the call failed with `UnavailableError` (down, timed out, breaker open, no instances): the
   newest stale entry, near or replicated, answered less than `fresh_s + stale_s` ago;
   otherwise the error. `stale_s = 0` means no fallback (an answer that must not outlive its
   freshness, like a session check).

Request errors (not found, unauthenticated, bad request) are answers, not failures: they go
back to the caller, nothing is cached and no fallback is tried. Values `keep` refuses (an
empty steering answer) are returned but not stored. Concurrent misses of one key in a process
make one call (single flight), so an expiring popular key does not stampede its dependency.
The replicated store failing or holding bytes that do not decode is a miss, never an error.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from reelcloud.platform.cache.cache import MAX_TTL_S, Cache, build_cache
from reelcloud.platform.cache.codec import Codec
from reelcloud.platform.cache.entry import Entry, pack, unpack
from reelcloud.platform.cache.near import NearCache
from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import BadRequestError, UnavailableError
from reelcloud.platform.settings import Settings

log = logging.getLogger(__name__)

V = TypeVar("V")
Load = Callable[[], Awaitable[V]]


class Source(StrEnum):
    """Where an answer came from (also the outcome counted per lookup)."""

    NEAR = "near"
    REPLICA = "replica"
    ORIGIN = "origin"  # the dependency was called
    STALE = "stale"  # the call failed; an older answer served
    FAILED = "failed"  # the call failed and nothing could serve (never in a Found)


@dataclass(frozen=True, slots=True)
class Found(Generic[V]):
    value: V
    source: Source
    written_at: float

    @property
    def stale(self) -> bool:
        return self.source is Source.STALE


class LookupCache:
    """The near cache and the replicated store (None: near only) one process's lookups share,
    and the background writes to the replicated store."""

    def __init__(
        self,
        near: NearCache,
        remote: Cache | None = None,
        *,
        clock: Clock | None = None,
        max_pending_writes: int = 1000,
    ) -> None:
        self.near = near
        self.remote = remote
        self.clock = clock or SystemClock()
        self.max_pending_writes = max_pending_writes
        self.outcomes: Counter[tuple[str, Source]] = Counter()  # (lookup kind, outcome)
        self.stats: Counter[str] = Counter()
        self._writes: set[asyncio.Task[None]] = set()

    def lookup(
        self,
        kind: str,
        codec: Codec[V],
        *,
        fresh_s: float,
        stale_s: float = 0.0,
        keep: Callable[[V], bool] | None = None,
    ) -> Lookup[V]:
        return Lookup(self, kind, codec, fresh_s=fresh_s, stale_s=stale_s, keep=keep)

    async def read(self, key: str) -> tuple[float, bytes] | None:
        """(written_at, payload) from the replicated store; None on a miss or any failure."""
        if self.remote is None:
            return None
        try:
            raw = await self.remote.get(key)
        except (UnavailableError, BadRequestError) as exc:
            self.stats["read_errors"] += 1
            log.debug("cache read of %s failed: %s", key, exc)
            return None
        if raw is None:
            return None
        unpacked = unpack(raw)
        if unpacked is None:
            self.stats["undecodable"] += 1
        return unpacked

    def write_later(self, key: str, data: bytes, ttl_s: float) -> None:
        """Every zone gets the entry in the background; a backlog past `max_pending_writes`
        (a zone that hangs) drops writes instead of piling up tasks."""
        if self.remote is None:
            return
        if len(self._writes) >= self.max_pending_writes:
            self.stats["writes_dropped"] += 1
            return
        ttl = min(MAX_TTL_S, max(1, math.ceil(ttl_s)))
        task = asyncio.get_running_loop().create_task(self._write(self.remote, key, data, ttl))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, remote: Cache, key: str, data: bytes, ttl_s: int) -> None:
        try:
            await remote.set(key, data, ttl_s)
        except (UnavailableError, BadRequestError) as exc:
            self.stats["write_errors"] += 1
            log.debug("cache write of %s failed: %s", key, exc)

    async def flush(self) -> None:
        """Until every background write has finished."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def aclose(self, *, flush_timeout_s: float = 1.0) -> None:
        try:
            async with asyncio.timeout(flush_timeout_s):
                await self.flush()
        except TimeoutError:
            for task in list(self._writes):
                task.cancel()
        if self.remote is not None:
            await self.remote.aclose()


class Lookup(Generic[V]):
    """One kind of answer (titles, members, ...): its codec, freshness and fallback window."""

    def __init__(
        self,
        cache: LookupCache,
        kind: str,
        codec: Codec[V],
        *,
        fresh_s: float,
        stale_s: float = 0.0,
        keep: Callable[[V], bool] | None = None,
    ) -> None:
        if fresh_s < 0 or stale_s < 0:
            raise ValueError("fresh_s and stale_s must not be negative")
        if not kind or ":" in kind:
            raise ValueError("a lookup kind must be non-empty and contain no ':'")
        self.cache = cache
        self.kind = kind
        self.codec = codec
        self.fresh_s = fresh_s
        self.stale_s = stale_s
        self.keep = keep
        self._flights: dict[str, asyncio.Future[Found[V]]] = {}

    async def get(self, key: str, load: Load[V]) -> V:
        return (await self.fetch(key, load)).value

    async def fetch(self, key: str, load: Load[V]) -> Found[V]:
        full = f"{self.kind}:{key}"
        near = self.cache.near.get(full)
        if near is not None and near.age_s(self.cache.clock.now()) < self.fresh_s:
            self.cache.outcomes[self.kind, Source.NEAR] += 1
            return Found(near.value, Source.NEAR, near.written_at)
        flight = self._flights.get(full)
        if flight is None:
            flight = asyncio.ensure_future(self._resolve(full, load))
            self._flights[full] = flight
            flight.add_done_callback(functools.partial(self._landed, full))
        # Shielded: a caller that gives up (its request cancelled) leaves the call running
        # for the others waiting on it.
        return await asyncio.shield(flight)

    def _landed(self, full: str, flight: asyncio.Future[Found[V]]) -> None:
        self._flights.pop(full, None)
        if not flight.cancelled():
            flight.exception()  # retrieved: a failure nobody awaited any more is not logged

    async def _resolve(self, full: str, load: Load[V]) -> Found[V]:
        replica: Entry[V] | None = None
        replica_read = False
        if self.fresh_s > 0:  # with no freshness the replica can only serve as a fallback
            replica, replica_read = await self._read_replica(full), True
            if replica is not None and replica.age_s(self.cache.clock.now()) < self.fresh_s:
                self._hold_near(full, replica)
                self.cache.outcomes[self.kind, Source.REPLICA] += 1
                return Found(replica.value, Source.REPLICA, replica.written_at)
        try:
            value = await load()
        except UnavailableError:
            if self.stale_s > 0:
                if not replica_read:
                    replica = await self._read_replica(full)
                stale = self._newest_usable(self.cache.near.get(full), replica)
                if stale is not None:
                    if stale is replica:
                        self._hold_near(full, stale)
                    self.cache.outcomes[self.kind, Source.STALE] += 1
                    return Found(stale.value, Source.STALE, stale.written_at)
            self.cache.outcomes[self.kind, Source.FAILED] += 1
            raise
        written_at = self.cache.clock.now()
        if self.keep is None or self.keep(value):
            self._store(full, Entry(value, written_at))
        self.cache.outcomes[self.kind, Source.ORIGIN] += 1
        return Found(value, Source.ORIGIN, written_at)

    def _newest_usable(self, *entries: Entry[V] | None) -> Entry[V] | None:
        now = self.cache.clock.now()
        usable = [e for e in entries if e is not None and e.age_s(now) < self.keep_s]
        return max(usable, key=lambda e: e.written_at, default=None)

    @property
    def keep_s(self) -> float:
        """How long after its answer an entry may still serve (fresh, then as a fallback)."""
        return self.fresh_s + self.stale_s

    def _hold_near(self, full: str, entry: Entry[Any]) -> None:
        if self.keep_s > 0:
            self.cache.near.put(full, entry, self.keep_s)

    def _store(self, full: str, entry: Entry[V]) -> None:
        if self.keep_s <= 0:
            return  # nothing may ever serve it: a cache that is off
        self._hold_near(full, entry)
        if self.cache.remote is not None:
            data = pack(entry.written_at, self.codec.encode(entry.value))
            self.cache.write_later(full, data, self.keep_s)

    async def _read_replica(self, full: str) -> Entry[V] | None:
        found = await self.cache.read(full)
        if found is None:
            return None
        written_at, payload = found
        try:
            return Entry(self.codec.decode(payload), written_at)
        except Exception as exc:  # whatever the codec raises: bytes another format wrote
            self.cache.stats["undecodable"] += 1
            log.debug("cache entry %s does not decode as %s: %s", full, self.kind, exc)
            return None


def build_lookup_cache(
    settings: Settings, name: str, *, replicated: bool = True, near_entries: int = 100_000
) -> LookupCache:
    """A near cache, in front of memcached replicated across zones when the settings name
    memcached nodes (REELCLOUD_MEMCACHED_<ZONE>) and `replicated` is on."""
    remote = build_cache(settings, name) if replicated and settings.memcached else None
    return LookupCache(NearCache(max_entries=near_entries), remote)
