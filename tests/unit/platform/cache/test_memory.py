import pytest

from reelcloud.platform.cache import MemoryStore

pytestmark = pytest.mark.asyncio


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
