"""The cache-aside helper on a fake clock, over in-memory zone stores."""

import asyncio

import pytest

from reelcloud.platform.cache import (
    Cache,
    JsonCodec,
    LookupCache,
    MemoryStore,
    NearCache,
    ReplicatedStore,
    Source,
)
from reelcloud.platform.cache.entry import pack
from reelcloud.platform.errors import NotFoundError, UnavailableError

pytestmark = pytest.mark.asyncio


class ZoneStore(MemoryStore):
    """One zone's memcached: counts its calls, and can be down."""

    def __init__(self, clock):
        super().__init__(clock=clock)
        self.down = False
        self.gets = 0
        self.sets = 0

    async def get(self, key):
        self.gets += 1
        if self.down:
            raise UnavailableError("memcached get failed: ConnectionRefusedError")
        return await super().get(key)

    async def set(self, key, value, ttl_s):
        self.sets += 1
        if self.down:
            raise UnavailableError("memcached set failed: ConnectionRefusedError")
        await super().set(key, value, ttl_s)


class Dependency:
    """A service answering `value` (or failing) and counting its calls."""

    def __init__(self, value=None):
        self.value = value
        self.error = None
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.value


@pytest.fixture
def zones(clock):
    return {"z1": ZoneStore(clock), "z2": ZoneStore(clock)}


def process(clock, zones, local="z1"):
    """One process's lookup cache: its own near cache over the shared zones."""
    replicated = ReplicatedStore(zones, local, clock=clock)
    return LookupCache(NearCache(clock=clock), Cache("svc", replicated), clock=clock)


def titles(cache, **kw):
    return cache.lookup("title", JsonCodec(), **({"fresh_s": 30, "stale_s": 600} | kw))


async def test_a_fresh_near_entry_answers_without_the_store_or_the_call(clock, zones):
    cache = process(clock, zones)
    catalog = Dependency({"name": "Dune"})
    lookup = titles(cache)
    assert (await lookup.fetch("t1", catalog)).source is Source.ORIGIN
    await cache.flush()
    gets = zones["z1"].gets + zones["z2"].gets
    clock.advance(29.9)
    found = await lookup.fetch("t1", catalog)
    assert (found.value, found.source) == ({"name": "Dune"}, Source.NEAR)
    assert catalog.calls == 1
    assert zones["z1"].gets + zones["z2"].gets == gets


async def test_an_answer_is_written_to_every_zone(clock, zones):
    cache = process(clock, zones)
    await titles(cache).get("t1", Dependency({"name": "Dune"}))
    await cache.flush()
    for store in zones.values():
        assert await MemoryStore.get(store, "svc:title:t1") == pack(clock.now(), b'{"name":"Dune"}')


async def test_another_process_reads_a_fresh_entry_from_its_zone_without_calling(clock, zones):
    first, second = process(clock, zones, "z1"), process(clock, zones, "z2")
    await titles(first).get("t1", Dependency({"name": "Dune"}))
    await first.flush()
    clock.advance(10)
    before = {zone: store.gets for zone, store in zones.items()}
    catalog = Dependency({"name": "other"})
    found = await titles(second).fetch("t1", catalog)
    assert (found.value, found.source) == ({"name": "Dune"}, Source.REPLICA)
    assert catalog.calls == 0
    assert zones["z2"].gets - before["z2"] == 1  # its own zone answered
    assert zones["z1"].gets == before["z1"]
    # Copied near, as old as it is: fresh for the 20 s left of its 30.
    clock.advance(19.9)
    assert (await titles(second).fetch("t1", catalog)).source is Source.NEAR
    clock.advance(0.1)
    assert (await titles(second).fetch("t1", catalog)).source is Source.ORIGIN


async def test_a_miss_in_the_local_zone_is_read_from_the_other_zone(clock, zones):
    writer = process(clock, zones)
    await titles(writer).get("t1", Dependency({"name": "Dune"}))
    await writer.flush()
    await zones["z2"].delete("svc:title:t1")  # z2 lost it (restarted empty)
    reader = process(clock, zones, "z2")
    catalog = Dependency({"name": "other"})
    found = await titles(reader).fetch("t1", catalog)
    assert (found.value, found.source) == ({"name": "Dune"}, Source.REPLICA)
    assert catalog.calls == 0


async def test_a_dead_zone_is_a_miss_and_writes_still_reach_the_other(clock, zones):
    zones["z1"].down = True
    cache = process(clock, zones, "z1")
    catalog = Dependency({"name": "Dune"})
    assert await titles(cache).get("t1", catalog) == {"name": "Dune"}
    await cache.flush()
    assert await MemoryStore.get(zones["z2"], "svc:title:t1") is not None
    # A process that has nothing near reads the live zone after one failed (skipped) zone.
    other = process(clock, zones, "z1")
    found = await titles(other).fetch("t1", catalog)
    assert found.source is Source.REPLICA
    assert catalog.calls == 1


async def test_a_stale_near_entry_serves_when_the_call_fails(clock, zones):
    cache = process(clock, zones)
    catalog = Dependency({"name": "Dune"})
    lookup = titles(cache)
    await lookup.get("t1", catalog)
    clock.advance(300)
    catalog.error = UnavailableError("catalog is unavailable", code="catalog_unavailable")
    found = await lookup.fetch("t1", catalog)
    assert (found.value, found.source, found.stale) == ({"name": "Dune"}, Source.STALE, True)
    assert catalog.calls == 2  # it was asked: the entry was past its freshness


async def test_a_stale_replica_entry_serves_a_process_that_never_saw_it(clock, zones):
    first = process(clock, zones)
    await titles(first).get("t1", Dependency({"name": "Dune"}))
    await first.flush()
    clock.advance(300)
    down = Dependency()
    down.error = UnavailableError("catalog is unavailable")
    found = await titles(process(clock, zones, "z2")).fetch("t1", down)
    assert (found.value, found.source) == ({"name": "Dune"}, Source.STALE)


async def test_nothing_serves_past_fresh_plus_stale(clock, zones):
    cache = process(clock, zones)
    lookup = titles(cache, fresh_s=30, stale_s=600)
    await lookup.get("t1", Dependency({"name": "Dune"}))
    await cache.flush()
    clock.advance(630)
    down = Dependency()
    down.error = UnavailableError("catalog is unavailable")
    with pytest.raises(UnavailableError, match="catalog is unavailable"):
        await lookup.get("t1", down)
    with pytest.raises(UnavailableError):
        await titles(process(clock, zones, "z2")).get("t1", down)
    assert cache.outcomes["title", Source.FAILED] == 1


async def test_without_a_stale_window_an_answer_ends_with_its_freshness(clock, zones):
    """A session check (the member) is reused for fresh_s and never beyond, even when
    accounts is down."""
    cache = process(clock, zones)
    members = cache.lookup("member", JsonCodec(), fresh_s=5)
    accounts = Dependency({"id": "m-1"})
    await members.get("m-1:s-1", accounts)
    clock.advance(4.9)
    assert (await members.fetch("m-1:s-1", accounts)).source is Source.NEAR
    clock.advance(0.1)
    accounts.error = UnavailableError("accounts is unavailable")
    with pytest.raises(UnavailableError):
        await members.get("m-1:s-1", accounts)
    assert accounts.calls == 2


async def test_request_errors_pass_through_and_are_not_cached(clock, zones):
    cache = process(clock, zones)
    lookup = titles(cache)
    await lookup.get("t1", Dependency({"name": "Dune"}))
    clock.advance(31)
    gone = Dependency()
    gone.error = NotFoundError("no such title")
    for _ in range(2):  # not served stale, and asked again each time
        with pytest.raises(NotFoundError):
            await lookup.get("t1", gone)
    assert gone.calls == 2


async def test_answers_keep_refuses_are_returned_but_not_stored(clock, zones):
    cache = process(clock, zones)
    steering = cache.lookup(
        "steer", JsonCodec(), fresh_s=2, stale_s=300, keep=lambda answer: bool(answer["ocas"])
    )
    empty = Dependency({"ocas": []})
    assert await steering.get("n1", empty) == {"ocas": []}
    assert await steering.get("n1", empty) == {"ocas": []}
    assert empty.calls == 2
    await cache.flush()
    assert zones["z1"].sets == zones["z2"].sets == 0


async def test_concurrent_misses_of_one_key_make_one_call(clock, zones):
    cache = process(clock, zones)
    release = asyncio.Event()
    calls = 0

    async def slow_catalog():
        nonlocal calls
        calls += 1
        await release.wait()
        return {"name": "Dune"}

    lookup = titles(cache)
    waiting = [asyncio.create_task(lookup.get("t1", slow_catalog)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [{"name": "Dune"}] * 5
    assert calls == 1


async def test_a_caller_that_gives_up_leaves_the_call_to_the_others(clock, zones):
    cache = process(clock, zones)
    release = asyncio.Event()

    async def slow_catalog():
        await release.wait()
        return {"name": "Dune"}

    lookup = titles(cache)
    impatient = asyncio.create_task(lookup.get("t1", slow_catalog))
    patient = asyncio.create_task(lookup.get("t1", slow_catalog))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await patient == {"name": "Dune"}
    assert impatient.cancelled()


async def test_bytes_that_do_not_decode_are_a_miss(clock, zones):
    for store in zones.values():
        await MemoryStore.set(store, "svc:title:t1", pack(clock.now(), b"{not json"), 60)
        await MemoryStore.set(store, "svc:title:t2", b"written by something else", 60)
    cache = process(clock, zones)
    catalog = Dependency({"name": "Dune"})
    assert await titles(cache).get("t1", catalog) == {"name": "Dune"}
    assert await titles(cache).get("t2", catalog) == {"name": "Dune"}
    assert catalog.calls == 2
    assert cache.stats["undecodable"] == 2


async def test_no_freshness_asks_every_time_and_keeps_the_fallback(clock, zones):
    cache = process(clock, zones)
    lookup = titles(cache, fresh_s=0, stale_s=600)
    catalog = Dependency({"name": "Dune"})
    await lookup.get("t1", catalog)
    await lookup.get("t1", catalog)
    assert catalog.calls == 2
    assert zones["z1"].gets == 0  # nothing there could be fresh: not read before the call
    catalog.error = UnavailableError("catalog is unavailable")
    assert (await lookup.fetch("t1", catalog)).source is Source.STALE


async def test_the_stored_entry_lasts_as_long_as_it_may_serve(clock, zones):
    cache = process(clock, zones)
    await titles(cache, fresh_s=30, stale_s=600).get("t1", Dependency({"name": "Dune"}))
    await cache.flush()
    clock.advance(629)
    assert await MemoryStore.get(zones["z1"], "svc:title:t1") is not None
    clock.advance(1)
    assert await MemoryStore.get(zones["z1"], "svc:title:t1") is None


async def test_a_near_only_cache_needs_no_store(clock):
    cache = LookupCache(NearCache(clock=clock), None, clock=clock)
    lookup = titles(cache)
    catalog = Dependency({"name": "Dune"})
    await lookup.get("t1", catalog)
    assert (await lookup.fetch("t1", catalog)).source is Source.NEAR
    clock.advance(60)
    catalog.error = UnavailableError("catalog is unavailable")
    assert (await lookup.fetch("t1", catalog)).source is Source.STALE
