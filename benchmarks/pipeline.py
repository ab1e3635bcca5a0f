"""Keystone end to end: events from the platform's producer through JetStream and the router
to the lake (Iceberg on SeaweedFS) and the consumer Kafka (Tansu), then the trending job.

Real engines on loopback: nats-server, PostgreSQL (the lake's catalog), SeaweedFS, Tansu; the
router and the job run in this process, as the service code does in its own.

1. Bare JetStream (the reference): the same producer publishes N events, then one pull
   consumer takes them, acknowledging each (what the router does): N / (publish + consume).
2. The router: N play.started events published while the router runs, one route writing the
   lake and the plays topic: from the first publish to the last event acknowledged by both.
   Its CPU per event is this process's CPU over that run less what publishing N cost in 1.
3. The trending job (Quix Streams): the N records of the topic counted into its windows.
4. Offload: `benchmarks/offload.py` (fill placement per rendition from counted plays against
   a same-size LRU): its smallest margin across 5, 10, 20 and 40 % embedded capacity.

    python benchmarks/pipeline.py [--quick]

The last line printed is one JSON object: events_per_s, vs_bare_jetstream,
router_us_per_event, offload_vs_lru_min, and the figures behind them.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.pipeline import PipelineWorld

import harness
import offload
from reelcloud.jobs.api import JOBS
from reelcloud.pipeline.api import ROUTER
from reelcloud.platform.events import EventPayload, EventProducer
from reelcloud.platform.events.play import PlayStarted

ROUTES = """
routes:
  - name: plays
    events: [play.started]
    project: [play_id, member_id, title_id, country, latency_ms]
    lake: plays
    topic: plays
    key: country
"""
COUNTRIES = ("US", "GB", "BR", "DE", "JP", "IN", "FR", "CA")
POLL_S = 0.05
ROOM = 50_000  # of the producer's 100,000-event buffer


class RawEvent(EventPayload):
    """What the bare run sends: a type no route takes, the size of a play start."""

    event_type: ClassVar[str] = "bench.raw"
    play_id: str
    member_id: str
    title_id: str
    country: str
    latency_ms: float


def play(n: int) -> PlayStarted:
    return PlayStarted(
        play_id=f"pl-{n}", member_id=f"m-{n % 5000}", profile_id="p", title_id=f"t-{n % 200}",
        device_id="d", country=COUNTRIES[n % len(COUNTRIES)], rungs=["1080p"],
        ocas=["oca-a-1"], steering_fallback=False, latency_ms=12.0,
    )  # fmt: skip


def raw(n: int) -> RawEvent:
    return RawEvent(play_id=f"pl-{n}", member_id=f"m-{n % 5000}", title_id=f"t-{n % 200}",
                    country=COUNTRIES[n % len(COUNTRIES)], latency_ms=12.0)  # fmt: skip


def progress(what: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f"\r  {what}: {done:,}/{total:,} ({rate:,.0f}/s)   ", end="", file=sys.stderr)


async def publish(url: str, spool: Path, count: int, make: Any) -> float:
    """The platform's producer (batched, acked, spooled); seconds until every ack came."""
    producer = EventProducer(url, producer_id=f"bench-{uuid.uuid4().hex[:6]}", spool_dir=spool)
    await producer.start()
    started = time.perf_counter()
    for n in range(count):
        # publish() drops what its buffer cannot hold: a caller this fast waits for room
        while producer.stats["buffered"] >= ROOM:
            await asyncio.sleep(0.005)
        producer.publish(make(n))
        if n % 1000 == 999:
            await asyncio.sleep(0)  # a service does other work between events
    while producer.stats["published"] < count:
        await asyncio.sleep(POLL_S)
    elapsed = time.perf_counter() - started
    await producer.aclose()
    return elapsed


async def consume(url: str, count: int) -> float:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        # As the router's consumer is set up: many acks pending, big fetches, short waits.
        sub = await js.pull_subscribe(
            "events.bench.raw", durable="bench-bare",
            config=nats.js.api.ConsumerConfig(max_ack_pending=80_000),
        )  # fmt: skip
        started = time.perf_counter()
        got = 0
        while got < count:
            try:
                messages = await sub.fetch(5000, timeout=0.2)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                await message.ack()
                got += 1
            progress("bare consume", got, count, started)
        print(file=sys.stderr)
        return time.perf_counter() - started
    finally:
        await nc.close()


def cpu_s() -> float:
    times = os.times()
    return times.user + times.system


async def routed(engines: PipelineWorld, count: int) -> tuple[float, float]:
    """(seconds from the first publish to the last event in lake and topic, CPU seconds)."""
    router_service = await engines.start("pipeline")
    try:
        worker = router_service.app[ROUTER].workers["plays"]
        cpu_before = cpu_s()
        started = time.perf_counter()
        publishing = asyncio.create_task(publish(engines.nats.url, engines.root / "spool-r",
                                                 count, play))  # fmt: skip
        while worker.counts.delivered < count or worker.counts.published < count:
            await asyncio.sleep(POLL_S)
            progress("router, lake and topic", min(worker.counts.delivered,
                     worker.counts.published), count, started)  # fmt: skip
        elapsed = time.perf_counter() - started
        await publishing
        print(file=sys.stderr)
        return elapsed, cpu_s() - cpu_before
    finally:
        await engines.stop_service("pipeline")


async def trending_job(engines: PipelineWorld, count: int) -> float:
    jobs_service = await engines.start("jobs")
    try:
        runner = jobs_service.app[JOBS].runners[0]
        started = time.perf_counter()
        while runner.processed < count:
            await asyncio.sleep(POLL_S)
            progress("trending job", runner.processed, count, started)
        print(file=sys.stderr)
        return time.perf_counter() - started
    finally:
        await engines.stop_service("jobs")


async def run(quick: bool) -> dict[str, Any]:
    count = 30_000 if quick else 300_000
    engines = PipelineWorld(
        Path(tempfile.mkdtemp(prefix="reelcloud-pipeline-")),
        {"jobs": {"jobs": ["trending"], "commit_interval_s": 1.0}},
        ROUTES,
    )
    print("starting nats-server, PostgreSQL, SeaweedFS, Tansu …", file=sys.stderr)
    await engines.start_engines()
    try:
        print(f"bare JetStream, {count:,} events …", file=sys.stderr)
        cpu_before = cpu_s()
        publish_s = await publish(engines.nats.url, engines.root / "spool-b", count, raw)
        publish_cpu_s = cpu_s() - cpu_before
        consume_s = await consume(engines.nats.url, count)
        print(f"router, {count:,} events …", file=sys.stderr)
        router_s, router_cpu_s = await routed(engines, count)
        job_s = await trending_job(engines, count)
    finally:
        await engines.stop()
    print("offload …", file=sys.stderr)
    placement = await offload.run(True)
    bare_rate = count / (publish_s + consume_s)
    rate = count / router_s
    router_us = max(0.0, router_cpu_s - publish_cpu_s) / count * 1e6
    print(f"bare JetStream {bare_rate:,.0f} events/s (publish {count / publish_s:,.0f}/s, "
          f"consume {count / consume_s:,.0f}/s); through the router {rate:,.0f} events/s, "
          f"{router_us:.0f} us of CPU an event; "
          f"trending job {count / job_s:,.0f} records/s")  # fmt: skip
    return {
        "events_per_s": round(rate),
        "vs_bare_jetstream": round(rate / bare_rate, 3),
        "router_us_per_event": round(router_us, 1),
        "offload_vs_lru_min": placement["offload_vs_lru_min"],
        "bare_jetstream_events_per_s": round(bare_rate),
        "bare_publish_events_per_s": round(count / publish_s),
        "bare_consume_events_per_s": round(count / consume_s),
        "trending_records_per_s": round(count / job_s),
        "events": count,
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
