"""The replicated cache over real memcached processes, one per zone."""

import signal

import aiomcache
import pytest
import pytest_asyncio
from tests.support.engines import start_memcached, stop
from tests.support.factories import topology
from tests.support.processes import hang, resume

from reelcloud.platform.cache import (
    Cache,
    LookupCache,
    MemcachedStore,
    NearCache,
    ProtobufCodec,
    ReplicatedStore,
    Source,
    build_cache,
)
from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.settings import Settings
from reelcloud.rpc import accounts_pb2

pytestmark = pytest.mark.asyncio


@pytest.fixture
def zones():
    started = {"z1": start_memcached(), "z2": start_memcached()}
    yield started
    for proc, _ in started.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a test that failed may have left it stopped
        stop(proc)


@pytest_asyncio.fixture
async def cache(zones):
    stores = {zone: MemcachedStore([("127.0.0.1", port)]) for zone, (_, port) in zones.items()}
    replicated = ReplicatedStore(stores, "z1")
    yield Cache("titles", replicated)
    await replicated.aclose()


async def raw_get(port, key):
    client = aiomcache.Client("127.0.0.1", port)
    try:
        return await client.get(key.encode())
    finally:
        await client.close()


async def test_write_all_read_local(cache, zones):
    await cache.set_json("t1", {"name": "Dune"})
    for _, port in zones.values():
        assert await raw_get(port, "titles:t1") == b'{"name":"Dune"}'
    assert await cache.get_json("t1") == {"name": "Dune"}
    assert cache.store.stats["fallback_reads"] == 0


async def test_a_dead_zone_is_survived(cache, zones):
    await cache.set("t1", b"before")
    stop(zones["z1"][0])  # the local zone's memcached dies
    assert await cache.get("t1") == b"before"  # read from the other zone
    await cache.set("t2", b"after")  # does not raise
    assert await cache.get("t2") == b"after"
    stats = cache.store.stats
    assert stats["read_errors.z1"] == 1  # once: then the zone is skipped for a moment
    assert stats["skipped_writes.z1"] == 1
    assert stats["skipped_reads.z1"] == 1
    assert stats["fallback_reads"] == 2


async def test_a_read_that_timed_out_does_not_answer_the_next_one(zones):
    """A reply that arrives after its read gave up must not be taken as the next read's."""
    proc, port = zones["z1"]
    store = MemcachedStore([("127.0.0.1", port)], pool_size=1)  # one connection: reused
    try:
        await store.set("k1", b"v1", 60)
        await store.set("k2", b"v2", 60)
        hang(proc.pid)
        try:
            with pytest.raises(UnavailableError, match="timed out"):
                await store.get("k1")
        finally:
            resume(proc.pid)  # memcached now answers the abandoned read
        assert await store.get("k2") == b"v2"
        assert await store.get("k1") == b"v1"
    finally:
        await store.aclose()


async def test_lookups_share_answers_across_processes_and_zones(zones):
    """Two Play API-like processes, one per zone: what one asked for, the other reads from
    memcached, also once the first one's zone is gone."""

    def process(local):
        stores = {z: MemcachedStore([("127.0.0.1", port)]) for z, (_, port) in zones.items()}
        return LookupCache(NearCache(), Cache("play-api", ReplicatedStore(stores, local)))

    codec = ProtobufCodec(accounts_pb2.Profile)
    first, second = process("z1"), process("z2")
    calls = 0

    async def accounts():
        nonlocal calls
        calls += 1
        return accounts_pb2.Profile(id="p-1", member_id="m-1", maturity="R")

    try:
        profiles = first.lookup("profile", codec, fresh_s=60, stale_s=3600)
        assert (await profiles.get("m-1:p-1", accounts)).maturity == "R"
        await first.flush()
        stop(zones["z2"][0])  # the second process's own zone dies
        found = await second.lookup("profile", codec, fresh_s=60, stale_s=3600).fetch(
            "m-1:p-1", accounts
        )
        assert (found.value.maturity, found.source) == ("R", Source.REPLICA)
        assert calls == 1
    finally:
        await first.aclose()
        await second.aclose()


async def test_keys_spread_over_the_nodes_of_a_zone(zones):
    ports = [port for _, port in zones.values()]
    store = MemcachedStore([("127.0.0.1", p) for p in ports])  # two nodes, one zone
    try:
        for n in range(200):
            await store.set(f"k{n}", b"v", 60)
        on_node = [sum([await raw_get(p, f"k{n}") is not None for n in range(200)]) for p in ports]
        assert sum(on_node) == 200  # each key on exactly one node
        assert min(on_node) > 50
    finally:
        await store.aclose()


async def test_build_cache_uses_memcached_per_zone_from_settings(zones, tmp_path):
    memcached = {zone: f"127.0.0.1:{port}" for zone, (_, port) in zones.items()}
    settings = Settings(
        topology=topology([8761]), memcached=memcached, zone="z2", data_dir=tmp_path
    )
    cache = build_cache(settings, "profiles")
    try:
        assert isinstance(cache.store, ReplicatedStore)
        assert cache.store.local_zone == "z2"
        await cache.set("p1", b"x")
        assert await raw_get(zones["z1"][1], "profiles:p1") == b"x"
    finally:
        await cache.aclose()
