"""Event publishing: the batching producer against one acknowledged publish per event.

Both send the same envelopes to the same JetStream stream on a local nats-server; the
reference awaits each publish's ack before sending the next (what a naive producer does), the
producer sends a batch and then awaits its acks. Events per second is measured from the first
publish() to the last ack.

    python benchmarks/events.py [--quick]

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import ClassVar

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.engines import NatsServer

import harness
from reelcloud.platform.events import EventPayload, EventProducer
from reelcloud.platform.events.producer import ensure_stream


class PlaybackProgress(EventPayload):
    event_type: ClassVar[str] = "bench.progress"
    member_id: str
    title_id: str
    position_s: float


def event(n: int) -> PlaybackProgress:
    return PlaybackProgress(member_id=f"m{n % 1000}", title_id=f"t{n % 50}", position_s=n * 0.5)


async def single(url: str, count: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_stream(js)
    started = time.perf_counter()
    for n in range(count):
        payload = json.dumps(event(n).model_dump()).encode()
        await js.publish(
            "events.bench.progress", payload, headers={"Nats-Msg-Id": uuid.uuid4().hex}
        )
    elapsed = time.perf_counter() - started
    await nc.close()
    return count / elapsed


def percentiles_us(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return round(ordered[int(q * (len(ordered) - 1))] / 1000, 1)

    return {"p50_us": at(0.50), "p99_us": at(0.99), "max_us": round(ordered[-1] / 1000, 1)}


def timed_publish(producer: EventProducer, n: int, latencies_ns: list[int]) -> None:
    started = time.perf_counter_ns()
    producer.publish(event(n))
    latencies_ns.append(time.perf_counter_ns() - started)


async def batched(url: str, count: int, spool: Path) -> tuple[float, list[int]]:
    producer = EventProducer(url, producer_id="bench", spool_dir=spool)
    await producer.start()
    await asyncio.sleep(0.2)  # connected, stream checked
    latencies_ns: list[int] = []
    started = time.perf_counter()
    for n in range(count):
        timed_publish(producer, n, latencies_ns)
        if n % 500 == 499:
            await asyncio.sleep(0)  # a caller does other work between events
    while producer.stats["published"] < count:
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    await producer.aclose()
    return count / elapsed, latencies_ns


async def nats_down(url: str, count: int, spool: Path) -> list[int]:
    """publish() while NATS is unreachable: the sender spools, the caller must not notice."""
    producer = EventProducer(url, producer_id="bench-down", spool_dir=spool)
    await producer.start()
    latencies_ns: list[int] = []
    for n in range(count):
        timed_publish(producer, n, latencies_ns)
        if n % 500 == 499:
            await asyncio.sleep(0)
    await producer.aclose(drain_timeout_s=0)
    return latencies_ns


async def run(quick: bool) -> dict[str, float]:
    count = 10_000 if quick else 100_000
    work = Path(tempfile.mkdtemp(prefix="reelcloud-events-"))
    server = NatsServer(work / "nats")
    server.start()
    try:
        print(f"one acknowledged publish per event, {count:,} events …", file=sys.stderr)
        single_rate = await single(server.url, count)
        print(f"batching producer, {count:,} events …", file=sys.stderr)
        batched_rate, up_ns = await batched(server.url, count, work / "spool")
    finally:
        server.stop()
    print(f"publish() with NATS down, {count:,} events …", file=sys.stderr)
    down_ns = await nats_down(server.url, count, work / "spool-down")
    up, down = percentiles_us(up_ns), percentiles_us(down_ns)
    print(f"single: {single_rate:,.0f} events/s   batched: {batched_rate:,.0f} events/s")
    print(
        f"publish(): p50 {up['p50_us']} us, p99 {up['p99_us']} us, max {up['max_us']} us; "
        f"with NATS down p50 {down['p50_us']} us, p99 {down['p99_us']} us, "
        f"max {down['max_us']} us"
    )
    return {
        "batched_vs_single": round(batched_rate / single_rate, 2),
        "events_per_s": round(batched_rate),
        "single_events_per_s": round(single_rate),
        "publish_p50_us": up["p50_us"],
        "publish_p99_us": up["p99_us"],
        "publish_max_us": up["max_us"],
        "publish_p50_us_nats_down": down["p50_us"],
        "publish_p99_us_nats_down": down["p99_us"],
        "publish_max_us_nats_down": down["max_us"],
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
