import pytest

from reelcloud.platform.cache import Cache, MemoryStore
from reelcloud.platform.errors import BadRequestError

pytestmark = pytest.mark.asyncio


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
