"""Registry benchmark: full-fetch latency at 1,000 and 10,000 instances (JSON and XML), cached
against rebuilt on every request, and renewals per second.

The registry runs as its own process (`reelcloud run registry`), as in production; this script
is the client. "Rebuilt" means every fetch follows a registry change, so the document is built
again (the cache's worst case); "cached" means nothing changed in between (the usual case:
renewals do not invalidate). The renewal rate is set next to the rate of `/healthz` requests on
the same server and connections, so the ratio shows what the registry's work costs over the
HTTP stack itself.

    python benchmarks/registry.py [--quick]

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.factories import (
    TEST_REGISTRY_SECRET,
    free_port,
    instance,
    registry_auth,
    topology_dict,
)

import harness
from reelcloud.platform.credentials import PEER_USER
from reelcloud.platform.eureka import json_codec


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        try:
            async with session.get(base + "/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("registry did not become ready")


async def load(session: aiohttp.ClientSession, base: str, start: int, count: int) -> None:
    """Register instances in batches through the peer replication endpoint (a real register)."""
    for first in range(start, start + count, 500):
        items = []
        for n in range(first, min(first + 500, start + count)):
            inst = instance(f"APP{n % 50:02d}", n, zone="z1" if n % 2 else "z2")
            items.append(
                {
                    "action": "Register",
                    "appName": inst.app,
                    "id": inst.instance_id,
                    "instanceInfo": json_codec.instance_to_dict(inst),
                }
            )
        async with session.post(
            base + "/eureka/peerreplication/batch",
            data=orjson.dumps({"replicationList": items}),
            headers={"Content-Type": "application/json", **registry_auth(PEER_USER)},
        ) as response:
            assert response.status == 200, await response.text()


async def fetch_latencies(
    session: aiohttp.ClientSession, base: str, fmt: str, samples: int, *, rebuild: bool
) -> list[float]:
    headers = {"Accept": "application/json"} if fmt == "json" else {}
    headers.update(registry_auth("app00"))
    if not rebuild:  # warm the cache: the first fetch after loading builds the document
        async with session.get(base + "/eureka/apps", headers=headers) as response:
            await response.read()
    result = []
    for n in range(samples):
        if rebuild:  # change the registry so the next fetch must build the document again
            async with session.put(
                f"{base}/eureka/apps/APP00/host:app00:0/metadata?round={n}",
                headers=registry_auth("app00"),
            ) as response:
                assert response.status == 200
        started = time.perf_counter()
        async with session.get(base + "/eureka/apps", headers=headers) as response:
            body = await response.read()
            assert response.status == 200
            assert body
        result.append((time.perf_counter() - started) * 1000)
    return result


async def request_rate(
    session: aiohttp.ClientSession,
    urls: list[tuple[str, dict[str, str]]],
    method: str,
    seconds: float,
    concurrency: int,
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        n = offset
        while time.perf_counter() < deadline:
            url, headers = urls[n % len(urls)]
            async with session.request(method, url, headers=headers) as response:
                assert response.status == 200, response.status
                await response.read()
            done += 1
            n += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done / (time.perf_counter() - started)


async def run(quick: bool) -> dict[str, float]:
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="reelcloud-bench-"))
    doc = topology_dict([port], lease_renewal_interval_s=30, lease_duration_s=90)
    doc["registry"]["eviction_interval_s"] = 3600
    (work / "topology.yaml").write_text(yaml.safe_dump(doc))
    env = {
        **os.environ,
        "REELCLOUD_TOPOLOGY_FILE": str(work / "topology.yaml"),
        "REELCLOUD_DATA_DIR": str(work),
        "REELCLOUD_PORT": str(port),
        "REELCLOUD_INSTANCE_ID": "bench:registry:1",
        "REELCLOUD_LOG_LEVEL": "WARNING",
        "REELCLOUD_REGISTRY_SECRET": TEST_REGISTRY_SECRET,
    }
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [sys.executable, "-m", "reelcloud", "run", "registry"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    samples = 15 if quick else 100
    figures: dict[str, float] = {}
    try:
        connector = aiohttp.TCPConnector(limit=64)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await wait_ready(session, base)
            loaded = 0
            for size in (1_000, 10_000):
                progress(f"registering {size - loaded} more instances …")
                await load(session, base, loaded, size - loaded)
                loaded = size
                tag = f"{size // 1000}k"
                for fmt in ("json", "xml"):
                    for mode, rebuild in (("cached", False), ("rebuilt", True)):
                        progress(f"  {tag} {fmt} {mode}: {samples} fetches …")
                        latencies = await fetch_latencies(
                            session, base, fmt, samples, rebuild=rebuild
                        )
                        figures[f"fetch_ms_p50_{tag}_{fmt}_{mode}"] = round(
                            statistics.median(latencies), 2
                        )
                        figures[f"fetch_ms_p99_{tag}_{fmt}_{mode}"] = round(
                            percentile(latencies, 99), 2
                        )
            seconds = 3.0 if quick else 10.0
            # Each renewal carries its own app's credential, as a service's heartbeat does.
            credentials = [registry_auth(f"app{n:02d}") for n in range(50)]
            renew_urls = [
                (
                    f"{base}/eureka/apps/APP{n % 50:02d}/host:app{n % 50:02d}:{n}",
                    credentials[n % 50],
                )
                for n in range(loaded)
            ]
            progress(f"renewals for {seconds:.0f} s at 64 concurrent requests …")
            renewals = await request_rate(session, renew_urls, "PUT", seconds, 64)
            progress(f"/healthz for {seconds:.0f} s at 64 concurrent requests (reference) …")
            noop = await request_rate(session, [(base + "/healthz", {})], "GET", seconds, 64)
    finally:
        server.terminate()
        server.wait(timeout=10)

    cached = figures["fetch_ms_p50_10k_json_cached"]
    rebuilt = figures["fetch_ms_p50_10k_json_rebuilt"]
    print("\nfull fetch, milliseconds (p50 / p99):")
    for size in ("1k", "10k"):
        for fmt in ("json", "xml"):
            row = [
                f"{figures[f'fetch_ms_p50_{size}_{fmt}_{m}']:8.2f} / "
                f"{figures[f'fetch_ms_p99_{size}_{fmt}_{m}']:8.2f}"
                for m in ("cached", "rebuilt")
            ]
            print(f"  {size:>3} {fmt:<4}  cached {row[0]}   rebuilt {row[1]}")
    print(f"renewals/s {renewals:,.0f}   /healthz/s {noop:,.0f}   ratio {renewals / noop:.2f}")
    return {
        "fetch_ms_p99_10k_json": figures["fetch_ms_p99_10k_json_cached"],
        "fetch_ms_p99_10k_xml": figures["fetch_ms_p99_10k_xml_cached"],
        "fetch_ms_p99_1k_json": figures["fetch_ms_p99_1k_json_cached"],
        "fetch_ms_p99_10k_json_rebuilt": figures["fetch_ms_p99_10k_json_rebuilt"],
        "renewals_per_s": round(renewals),
        "renewals_vs_noop_request": round(renewals / noop, 3),
        "cached_vs_rebuilt": round(rebuilt / cached, 2),
        "cached_vs_rebuilt_xml": round(
            figures["fetch_ms_p50_10k_xml_rebuilt"] / figures["fetch_ms_p50_10k_xml_cached"], 2
        ),
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
