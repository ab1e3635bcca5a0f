"""Cache benchmark: get/set operations per second and p99 latency for the in-process store,
one memcached zone, and two replicated zones, next to a plain pymemcache client on the same
memcached (the reference); and what a cache-aside lookup (`platform.cache.lookup`) costs when
the near cache answers and when the replicated zones do (a protobuf answer decoded).

Each backend is driven sequentially from one client (one operation in flight), so the numbers
compare the client paths, not memcached's parallelism.

    python benchmarks/cache.py [--quick]

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pymemcache.client.base import Client as PlainClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.engines import start_memcached, stop

import harness
from reelcloud.platform.cache import (
    Cache,
    LookupCache,
    MemcachedStore,
    MemoryStore,
    NearCache,
    ProtobufCodec,
    ReplicatedStore,
)
from reelcloud.rpc import accounts_pb2

VALUE = b"x" * 1024


def summarize(latencies_s: list[float], elapsed_s: float) -> dict[str, float]:
    ordered = sorted(latencies_s)
    return {
        "ops_per_s": round(len(ordered) / elapsed_s),
        "p99_us": round(ordered[int(0.99 * (len(ordered) - 1))] * 1e6, 1),
    }


async def drive(op: Callable[[int], Awaitable[object]], count: int) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for n in range(count):
        t = time.perf_counter()
        await op(n)
        latencies.append(time.perf_counter() - t)
    return summarize(latencies, time.perf_counter() - started)


def drive_sync(op: Callable[[int], object], count: int) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for n in range(count):
        t = time.perf_counter()
        op(n)
        latencies.append(time.perf_counter() - t)
    return summarize(latencies, time.perf_counter() - started)


async def measure_cache(cache: Cache, count: int) -> dict[str, dict[str, float]]:
    keys = [f"k{n % 1000}" for n in range(count)]
    sets = await drive(lambda n: cache.set(keys[n], VALUE, 300), count)
    gets = await drive(lambda n: cache.get(keys[n]), count)
    return {"set": sets, "get": gets}


async def measure_lookups(zones: dict[str, int], count: int) -> dict[str, dict[str, float]]:
    """A near hit, and a near miss answered fresh by the local zone (the near cache holds one
    entry while the keys cycle over a thousand)."""
    member = accounts_pb2.Member(id="m-1", country="US", plan="premium", max_streams=4)

    async def never() -> accounts_pb2.Member:
        raise AssertionError("the dependency was called: the cache should have answered")

    async def accounts() -> accounts_pb2.Member:
        return member

    results = {}
    for name, near_entries in (("near hit", 10_000), ("replica hit", 1)):
        stores = {z: MemcachedStore([("127.0.0.1", port)]) for z, port in zones.items()}
        cache = LookupCache(
            NearCache(max_entries=near_entries), Cache("bench", ReplicatedStore(stores, "z1"))
        )
        members = cache.lookup("member", ProtobufCodec(accounts_pb2.Member), fresh_s=300)
        keys = [f"m-{n % 1000}" for n in range(count)]
        for key in keys[:1000]:
            await members.get(key, accounts)
        await cache.flush()
        results[name] = await drive(
            lambda n, members=members, keys=keys: members.get(keys[n], never), count
        )
        await cache.aclose()
    return results


async def run(quick: bool) -> dict[str, float]:
    count = 5_000 if quick else 50_000
    z1, z2 = start_memcached(), start_memcached()
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        plain = PlainClient(("127.0.0.1", z1[1]), no_delay=True)
        keys = [f"plain:k{n % 1000}" for n in range(count)]
        results["plain pymemcache"] = {
            # noreply=False: wait for STORED, as our client does (pymemcache defaults to noreply)
            "set": drive_sync(
                lambda n: plain.set(keys[n], VALUE, expire=300, noreply=False), count
            ),
            "get": drive_sync(lambda n: plain.get(keys[n]), count),
        }
        plain.close()
        backends = {
            "in-process": Cache("bench", MemoryStore()),
            "memcached (1 zone)": Cache("bench", MemcachedStore([("127.0.0.1", z1[1])])),
            "memcached (2 zones, replicated)": Cache(
                "bench",
                ReplicatedStore(
                    {
                        "z1": MemcachedStore([("127.0.0.1", z1[1])]),
                        "z2": MemcachedStore([("127.0.0.1", z2[1])]),
                    },
                    "z1",
                ),
            ),
        }
        for name, cache in backends.items():
            print(f"{name} …", file=sys.stderr, flush=True)
            results[name] = await measure_cache(cache, count)
            await cache.aclose()
        print("lookups …", file=sys.stderr, flush=True)
        lookups = await measure_lookups({"z1": z1[1], "z2": z2[1]}, count)
    finally:
        stop(z1[0])
        stop(z2[0])
    print(f"{'backend':<34}{'get ops/s':>12}{'get p99 µs':>12}{'set ops/s':>12}{'set p99 µs':>12}")
    for name, r in results.items():
        print(
            f"{name:<34}{r['get']['ops_per_s']:>12,}{r['get']['p99_us']:>12}"
            f"{r['set']['ops_per_s']:>12,}{r['set']['p99_us']:>12}"
        )
    print(f"{'lookup':<34}{'ops/s':>12}{'p99 µs':>12}")
    for name, r in lookups.items():
        print(f"{name:<34}{r['ops_per_s']:>12,}{r['p99_us']:>12}")
    ours, plain_r = results["memcached (1 zone)"], results["plain pymemcache"]
    replicated = results["memcached (2 zones, replicated)"]
    return {
        "memcached_ratio_vs_plain": round(
            ours["get"]["ops_per_s"] / plain_r["get"]["ops_per_s"], 2
        ),
        "memcached_set_ratio_vs_plain": round(
            ours["set"]["ops_per_s"] / plain_r["set"]["ops_per_s"], 2
        ),
        "replicated_set_ratio_vs_single": round(
            replicated["set"]["ops_per_s"] / ours["set"]["ops_per_s"], 2
        ),
        "memcached_get_p99_us": ours["get"]["p99_us"],
        "in_process_get_ops_per_s": results["in-process"]["get"]["ops_per_s"],
        "memcached_get_ops_per_s": ours["get"]["ops_per_s"],
        "lookup_near_hit_ops_per_s": lookups["near hit"]["ops_per_s"],
        "lookup_near_hit_p99_us": lookups["near hit"]["p99_us"],
        "lookup_replica_hit_ops_per_s": lookups["replica hit"]["ops_per_s"],
        "lookup_replica_hit_p99_us": lookups["replica hit"]["p99_us"],
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
