"""A million events through Keystone while its parts fail: the platform's producer publishes
1,000,000 play starts to JetStream; the router writes them to the lake and the plays topic;
meanwhile the test restarts JetStream, kills the Kafka broker (-9) and starts it again, and
restarts the router, once each, and slips 100 malformed events in.

- the lake holds each event exactly once (rows = distinct ids = events produced);
- the topic holds each at least once (copies only from retried writes, which jobs drop);
- the 100 malformed events are in the dead-letter stream, each with a reason;
- the route's lag comes back to 0 (the time it took after the last restart is printed).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import nats
import orjson
import pytest
import pytest_asyncio
from confluent_kafka import Consumer, TopicPartition
from tests.support.pipeline import PipelineWorld
from tests.support.waiting import wait_for, wait_for_sync

from reelcloud.pipeline.api import ROUTER
from reelcloud.platform.events import EventProducer
from reelcloud.platform.events.play import PlayStarted
from reelcloud.platform.kafka import consumer_config

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.integration]

EVENTS = int(os.environ.get("REELCLOUD_MILLION_EVENTS", "1000000"))  # smaller: a quick look
MALFORMED = 100
ROOM = 50_000  # of the producer's 100,000-event buffer
PARTITIONS = 4
ROUTES = """
routes:
  - name: plays
    events: [play.started]
    project: [play_id, title_id, country]
    lake: plays
    topic: plays
    key: country
"""
COUNTRIES = ("US", "GB", "BR", "DE", "JP", "IN", "FR", "CA")


def play(n: int) -> PlayStarted:
    return PlayStarted(
        play_id=f"pl-{n}", member_id=f"m-{n % 5000}", profile_id="p", title_id=f"t-{n % 300}",
        device_id="d", country=COUNTRIES[n % len(COUNTRIES)], rungs=["1080p"],
        ocas=["oca-a-1"], steering_fallback=False, latency_ms=12.0,
    )  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    running = PipelineWorld(tmp_path_factory.mktemp("million"), {}, ROUTES)
    try:
        await running.start_engines()
        await running.start("pipeline")
        yield running
    finally:
        await running.stop()


def note(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def publish_all(world: PipelineWorld) -> None:
    producer = EventProducer(world.nats.url, producer_id="million", spool_dir=world.root / "spool")
    await producer.start()
    try:
        for n in range(EVENTS):
            # publish() drops what its buffer cannot hold: a caller this fast waits for room
            while producer.stats["buffered"] >= ROOM:
                await asyncio.sleep(0.005)
            assert producer.publish(play(n)) is not None
            if n % 1000 == 999:
                await asyncio.sleep(0)
        await wait_for(lambda: producer.stats["published"] >= EVENTS, timeout_s=900,
                       what=lambda: f"{EVENTS:,} events acknowledged by JetStream "
                       f"({producer.stats})", interval_s=0.2)  # fmt: skip
    finally:
        await producer.aclose()


async def publish_malformed(world: PipelineWorld) -> None:
    nc = await nats.connect(world.nats.url)
    try:
        js = nc.jetstream()
        for n in range(MALFORMED):
            body = b"{not json %d" % n if n % 2 else orjson.dumps(
                {"id": f"bad-{n}", "type": "play.started", "version": 1, "time": time.time(),
                 "producer": "test", "seq": n, "request_id": None, "payload": {"play_id": n}}
            )  # fmt: skip
            await js.publish("events.play.started", body, headers={"Nats-Msg-Id": f"bad-{n}"})
    finally:
        await nc.close()


def delivered(world: PipelineWorld) -> int:
    service = world.services.get("pipeline")
    if service is None:
        return 0
    worker = service.app[ROUTER].workers.get("plays")
    return 0 if worker is None else worker.counts.delivered


async def at_least(world: PipelineWorld, count: int, what: str) -> None:
    """Until the router (since its last start) delivered `count` events to the lake."""
    await wait_for(lambda: delivered(world) >= count, what=what, timeout_s=600, interval_s=0.2)


def read_topic(bootstrap: str) -> tuple[bytearray, int]:
    """Each play's number seen on the plays topic (a count per number), and the copies."""
    seen = bytearray(EVENTS)
    consumer = Consumer(consumer_config(bootstrap, "million-check", "million-check"))
    consumer.assign([TopicPartition("plays", p, 0) for p in range(PARTITIONS)])
    found = copies = 0

    def complete() -> bool:
        nonlocal found, copies
        for message in consumer.consume(10_000, 0.5):
            if message.error() is not None:
                continue
            n = int(orjson.loads(message.value())["payload"]["play_id"][3:])
            if seen[n]:
                copies += 1
            else:
                found += 1
            seen[n] = min(seen[n] + 1, 255)
        return found == EVENTS

    try:
        wait_for_sync(complete, what=lambda: f"every event on the topic ({found:,} of {EVENTS:,})",
                      timeout_s=600, interval_s=0)  # fmt: skip
    finally:
        consumer.close()
    return seen, copies


@pytest.mark.timeout(1800)
async def test_a_million_events_through_restarts_lose_and_double_nothing(world):
    started = time.monotonic()
    publishing = asyncio.create_task(publish_all(world))

    await at_least(world, EVENTS // 10, "a tenth of the events in the lake")
    note(f"restarting JetStream at {delivered(world):,} delivered")
    world.nats.stop()
    world.nats.start()

    await at_least(world, EVENTS // 5, "a fifth in the lake")
    await publish_malformed(world)

    await at_least(world, EVENTS * 35 // 100, "35 % in the lake")
    note(f"killing the Kafka broker (-9) at {delivered(world):,} delivered")
    world.kafka.kill9()
    await world.kafka.wait_dead()
    await world.kafka.start()

    await at_least(world, EVENTS * 6 // 10, "60 % in the lake")
    before = delivered(world)
    note(f"restarting the router at {before:,} delivered")
    async with asyncio.timeout(120):
        await world.stop_service("pipeline")
    note("router stopped")
    async with asyncio.timeout(120):
        await world.start("pipeline")
    restarted_at = time.monotonic()
    note("router started")

    async with asyncio.timeout(900):
        await publishing
    note(f"all {EVENTS:,} published and acknowledged after {time.monotonic() - started:.0f} s")

    async def caught_up() -> bool:
        route = (await world.routes_status())["plays"]
        return route["pending"] == 0 and route["problem"] is None

    await wait_for(caught_up, what="the plays route's lag back to 0", timeout_s=600,
                   interval_s=0.5)  # fmt: skip
    note(
        f"lag 0 {time.monotonic() - restarted_at:.0f} s after the last restart "
        f"({EVENTS - before:,} events to go then); {time.monotonic() - started:.0f} s in all"
    )

    rows, distinct = world.lake("select count(*), count(distinct play_id) from plays")[0]
    assert (rows, distinct) == (EVENTS, EVENTS)

    seen, copies = await asyncio.to_thread(read_topic, world.kafka.url)
    assert seen.count(0) == 0
    note(f"topic: every event, {copies:,} copies from retried writes")

    nc = await nats.connect(world.nats.url)
    try:
        dead = await nc.jetstream().pull_subscribe("deadletter.plays", durable="million-dl")
        letters = []
        while len(letters) < MALFORMED:
            letters += await dead.fetch(MALFORMED - len(letters), timeout=10)
        reasons = [m.headers["Reelcloud-Reason"] for m in letters]
        assert all(reasons), reasons
        assert sum(r.startswith("not an event envelope") for r in reasons) == MALFORMED // 2
        assert sum(r.startswith("bad play.started payload") for r in reasons) == MALFORMED // 2
    finally:
        await nc.close()
