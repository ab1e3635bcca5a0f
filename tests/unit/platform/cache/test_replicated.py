import pytest

from reelcloud.platform.cache import MemoryStore, ReplicatedStore
from reelcloud.platform.errors import UnavailableError

pytestmark = pytest.mark.asyncio


class ZoneStore(MemoryStore):
    """A zone's store whose node can be down: then every call fails the way MemcachedStore
    reports it."""

    def __init__(self, clock, *, down=True):
        super().__init__(clock=clock)
        self.down = down
        self.calls = 0

    def _check(self, op):
        self.calls += 1
        if self.down:
            raise UnavailableError(f"memcached {op} failed: ConnectionRefusedError")

    async def get(self, key):
        self._check("get")
        return await super().get(key)

    async def set(self, key, value, ttl_s):
        self._check("set")
        await super().set(key, value, ttl_s)

    async def delete(self, key):
        self._check("delete")
        await super().delete(key)


async def test_writes_go_everywhere_reads_stay_local(clock):
    local, remote = MemoryStore(clock=clock), MemoryStore(clock=clock)
    cache = ReplicatedStore({"z1": local, "z2": remote}, "z1", clock=clock)
    await cache.set("k", b"v", 60)
    assert await local.get("k") == b"v"
    assert await remote.get("k") == b"v"
    await remote.delete("k")
    assert await cache.get("k") == b"v"
    assert cache.stats["fallback_reads"] == 0


async def test_local_miss_is_read_from_another_zone(clock):
    local, remote = MemoryStore(clock=clock), MemoryStore(clock=clock)
    cache = ReplicatedStore({"z1": local, "z2": remote}, "z1", clock=clock)
    await remote.set("k", b"remote", 60)
    assert await cache.get("k") == b"remote"
    assert cache.stats["fallback_reads"] == 1


async def test_dead_zone_fails_neither_reads_nor_writes(clock):
    dead, alive = ZoneStore(clock), MemoryStore(clock=clock)
    cache = ReplicatedStore({"z1": dead, "z2": alive}, "z1", clock=clock)
    assert await cache.get("k") is None  # does not raise
    assert cache.stats["read_errors.z1"] == 1
    await cache.set("k", b"v", 60)  # does not raise (z1 is skipped: it just failed)
    assert await alive.get("k") == b"v"
    assert await cache.get("k") == b"v"
    await cache.delete("k")  # invalidations are sent to every zone, down or not
    assert cache.stats["write_failures.z1"] == 1
    assert await alive.get("k") is None


async def test_a_failed_zone_is_skipped_until_down_s_has_passed(clock):
    dead, alive = ZoneStore(clock), MemoryStore(clock=clock)
    cache = ReplicatedStore({"z1": dead, "z2": alive}, "z1", down_s=1.0, clock=clock)
    await alive.set("k", b"v", 60)
    assert await cache.get("k") == b"v"
    assert dead.calls == 1
    for _ in range(5):  # no call to the dead zone: straight to the other one
        assert await cache.get("k") == b"v"
        await cache.set("k", b"v", 60)
    assert dead.calls == 1
    assert cache.stats["skipped_reads.z1"] == 5
    assert cache.stats["skipped_writes.z1"] == 5
    clock.advance(1.0)
    assert await cache.get("k") == b"v"  # tried again, failed again, skipped again
    assert dead.calls == 2
    assert cache.is_down("z1")


async def test_a_zone_that_answers_again_is_used_again(clock):
    flaky, other = ZoneStore(clock), MemoryStore(clock=clock)
    cache = ReplicatedStore({"z1": flaky, "z2": other}, "z1", down_s=1.0, clock=clock)
    await cache.get("k")
    assert cache.is_down("z1")
    flaky.down = False  # the node came back (restarted)
    await flaky.set("k", b"local", 60)
    clock.advance(1.0)
    assert await cache.get("k") == b"local"
    assert not cache.is_down("z1")
    assert cache.stats["fallback_reads"] == 1  # only the first read, while z1 was failing
