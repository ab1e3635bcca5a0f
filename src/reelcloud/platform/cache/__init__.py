"""The cache (EVCache semantics): one async interface, several stores behind it, and one
cache-aside helper that services look their dependencies' answers up through.

- `MemoryStore`: an in-process TTL cache, the default on one machine;
- `MemcachedStore`: memcached nodes of one zone, keys placed by consistent hashing;
- `ReplicatedStore`: one store per zone; writes go to every zone, reads to the local one and,
  on a miss or an error, to one other zone; a failed zone is skipped for a moment;
- `Cache`: a name (the key prefix), key checks, default TTLs, JSON values;
- `NearCache`: this process's copy of decoded answers, in front of the replicated store;
- `LookupCache` / `Lookup`: cache-aside once — near → replicated → the call → stale
  fallback — with a codec (`ProtobufCodec`, `JsonCodec`) per kind of answer.
"""

from reelcloud.platform.cache.base import CacheStore
from reelcloud.platform.cache.cache import Cache, build_cache
from reelcloud.platform.cache.codec import Codec, JsonCodec, ProtobufCodec
from reelcloud.platform.cache.entry import Entry
from reelcloud.platform.cache.lookup import Found, Lookup, LookupCache, Source, build_lookup_cache
from reelcloud.platform.cache.memcached import MemcachedStore
from reelcloud.platform.cache.memory import MemoryStore
from reelcloud.platform.cache.near import NearCache
from reelcloud.platform.cache.replicated import ReplicatedStore

__all__ = [
    "Cache",
    "CacheStore",
    "Codec",
    "Entry",
    "Found",
    "JsonCodec",
    "Lookup",
    "LookupCache",
    "MemcachedStore",
    "MemoryStore",
    "NearCache",
    "ProtobufCodec",
    "ReplicatedStore",
    "Source",
    "build_cache",
    "build_lookup_cache",
]
