"""What services use: a named cache with key checks, default TTLs and JSON values."""

from __future__ import annotations

import re
from typing import Any

import orjson

from reelcloud.platform.cache.base import CacheStore
from reelcloud.platform.cache.memcached import MemcachedStore, parse_nodes
from reelcloud.platform.cache.memory import MemoryStore
from reelcloud.platform.cache.replicated import ReplicatedStore
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.settings import Settings

MAX_KEY_LENGTH = 200  # EVCache's canonical key limit (memcached allows 250)
_BAD_KEY = re.compile(r"[\s\x00-\x1f\x7f]")
MAX_TTL_S = 30 * 24 * 3600  # memcached reads larger numbers as absolute times


class Cache:
    def __init__(self, name: str, store: CacheStore, *, default_ttl_s: int = 300) -> None:
        if not name or ":" in name:
            raise ValueError("a cache name must be non-empty and contain no ':'")
        self.name = name
        self.store = store
        self.default_ttl_s = default_ttl_s

    def _key(self, key: str) -> str:
        canonical = f"{self.name}:{key}"
        if not key or _BAD_KEY.search(key):
            raise BadRequestError(f"cache key {key[:40]!r} is empty or has spaces/control chars")
        if len(canonical.encode()) > MAX_KEY_LENGTH:
            raise BadRequestError(f"cache key is longer than {MAX_KEY_LENGTH} bytes with prefix")
        return canonical

    def _ttl(self, ttl_s: int | None) -> int:
        ttl = self.default_ttl_s if ttl_s is None else ttl_s
        if not 0 < ttl <= MAX_TTL_S:
            raise BadRequestError(f"ttl_s must be between 1 and {MAX_TTL_S}")
        return ttl

    async def get(self, key: str) -> bytes | None:
        return await self.store.get(self._key(key))

    async def set(self, key: str, value: bytes, ttl_s: int | None = None) -> None:
        await self.store.set(self._key(key), value, self._ttl(ttl_s))

    async def delete(self, key: str) -> None:
        await self.store.delete(self._key(key))

    async def get_json(self, key: str) -> Any:
        raw = await self.get(key)
        return None if raw is None else orjson.loads(raw)

    async def set_json(self, key: str, value: Any, ttl_s: int | None = None) -> None:
        await self.set(key, orjson.dumps(value), ttl_s)

    async def aclose(self) -> None:
        await self.store.aclose()


def build_cache(settings: Settings, name: str, *, default_ttl_s: int = 300) -> Cache:
    """memcached pools per zone when the settings name them (REELCLOUD_MEMCACHED_<ZONE>),
    replicated across zones; otherwise an in-process store."""
    if not settings.memcached:
        return Cache(name, MemoryStore(), default_ttl_s=default_ttl_s)
    zones: dict[str, CacheStore] = {
        zone: MemcachedStore(parse_nodes(spec)) for zone, spec in settings.memcached.items()
    }
    local = settings.effective_zone if settings.effective_zone in zones else next(iter(zones))
    return Cache(name, ReplicatedStore(zones, local), default_ttl_s=default_ttl_s)
