"""The cache (EVCache semantics): one async interface, several stores behind it.

- `MemoryStore`: an in-process TTL cache, the default on one machine;
- `MemcachedStore`: memcached nodes of one zone, keys placed by consistent hashing;
- `ReplicatedStore`: one store per zone; writes go to every zone, reads to the local one and,
  on a miss or an error, to one other zone;
- `Cache`: what services use: a name (the key prefix), key checks, default TTLs, JSON values.
"""

from reelcloud.platform.cache.base import CacheStore
from reelcloud.platform.cache.cache import Cache, build_cache
from reelcloud.platform.cache.memcached import MemcachedStore
from reelcloud.platform.cache.memory import MemoryStore
from reelcloud.platform.cache.replicated import ReplicatedStore

__all__ = ["Cache", "CacheStore", "MemcachedStore", "MemoryStore", "ReplicatedStore", "build_cache"]
