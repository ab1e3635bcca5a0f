import pytest

from reelcloud.platform.cache import Cache, MemoryStore, ReplicatedStore
from reelcloud.platform.errors import BadRequestError, UnavailableError

pytestmark = pytest.mark.asyncio


class DeadStore:
    """A store whose node is down: every call fails the way MemcachedStore reports it."""

    def __init__(self):
        self.calls = 0

    async def get(self, key):
        self.calls += 1
        raise UnavailableError("memcached get failed: ConnectionRefusedError")

    async def set(self, key, value, ttl_s):
        self.calls += 1
        raise UnavailableError("memcached set failed: ConnectionRefusedError")

    async def delete(self, key):
        raise UnavailableError("memcached delete failed")

    async def aclose(self):
        pass


async def test_memory_store_expires_entries(clock):
    store = MemoryStore(clock=clock)
    await store.set("k", b"v", ttl_s=10)
    clock.advance(9.9)
    assert await store.get("k") == b"v"
    clock.advance(0.2)
    assert await store.get("k") is None


async def test_memory_store_evicts_least_recently_used(clock):
    store = MemoryStore(max_entries=2, clock=clock)
    await store.set("a", b"1", 60)
    await store.set("b", b"2", 60)
    await store.get("a")
    await store.set("c", b"3", 60)
    assert await store.get("b") is None
    assert await store.get("a") == b"1"


async def test_writes_go_everywhere_reads_stay_local(clock):
    local, remote = MemoryStore(clock=clock), MemoryStore(clock=clock)
    cache = ReplicatedStore({"z1": local, "z2": remote}, "z1")
    await cache.set("k", b"v", 60)
    assert await local.get("k") == b"v"
    assert await remote.get("k") == b"v"
    await remote.delete("k")
    assert await cache.get("k") == b"v"
    assert cache.stats["fallback_reads"] == 0


async def test_local_miss_is_read_from_another_zone(clock):
    local, remote = MemoryStore(clock=clock), MemoryStore(clock=clock)
    cache = ReplicatedStore({"z1": local, "z2": remote}, "z1")
    await remote.set("k", b"remote", 60)
    assert await cache.get("k") == b"remote"
    assert cache.stats["fallback_reads"] == 1


async def test_dead_zone_fails_neither_reads_nor_writes(clock):
    dead, alive = DeadStore(), MemoryStore(clock=clock)
    cache = ReplicatedStore({"z1": dead, "z2": alive}, "z1")
    await cache.set("k", b"v", 60)  # does not raise
    assert cache.stats["write_failures.z1"] == 1
    assert await cache.get("k") == b"v"
    assert cache.stats["read_errors.z1"] == 1
    await cache.delete("k")
    assert cache.stats["write_failures.z1"] == 2


async def test_cache_prefixes_and_checks_keys(clock):
    store = MemoryStore(clock=clock)
    cache = Cache("titles", store, default_ttl_s=60)
    await cache.set_json("t1", {"name": "Dune"})
    assert await store.get("titles:t1") is not None
    assert await cache.get_json("t1") == {"name": "Dune"}
    assert await cache.get_json("t2") is None
    for bad in ("", "has space", "new\nline", "x" * 300):
        with pytest.raises(BadRequestError):
            await cache.set(bad, b"v")
    with pytest.raises(BadRequestError, match="ttl_s"):
        await cache.set("k", b"v", ttl_s=0)
