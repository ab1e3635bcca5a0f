"""The event producer against a real NATS JetStream that goes away and comes back."""

import asyncio
import inspect
from typing import ClassVar

import pytest
from tests.support.events import consume_all
from tests.support.waiting import wait_for

from reelcloud.platform.events import EventPayload, EventProducer, decode

pytestmark = pytest.mark.asyncio


class Heartbeat(EventPayload):
    event_type: ClassVar[str] = "test.heartbeat"
    n: int


async def test_outage_mid_stream_loses_nothing_and_duplicates_nothing(nats_server, tmp_path):
    # How long publish() takes is benchmarks/events.py's business; here: what it does.
    assert not inspect.iscoroutinefunction(EventProducer.publish)  # it cannot await I/O
    total = 100_000
    producer = EventProducer(nats_server.url, producer_id="p1", spool_dir=tmp_path / "spool")
    await producer.start()
    try:
        for n in range(total):
            producer.publish(Heartbeat(n=n))
            if n % 1000 == 999:
                await asyncio.sleep(0)  # the caller's own work between events lets the sender run
            if n == 30_000:
                nats_server.stop()  # NATS goes away mid-stream
            if n == 70_000:
                # The outage lasts until the producer has had to put events on disk.
                await wait_for(
                    lambda: producer.stats["spooled"] > 0,
                    what="the producer spools events while NATS is down",
                )
                nats_server.start()
    finally:
        await producer.aclose(drain_timeout_s=60)
    stats = producer.stats
    assert stats["spooled"] > 0  # the outage really went through the spool
    assert stats["dropped"] == 0
    assert not stats["spool_pending"], stats  # all of it reached NATS in the end

    received = await consume_all(nats_server.url, "check", total)
    assert [e.seq for e in received] == list(range(total))  # each once, in order
    assert len({e.id for e in received}) == total
    assert decode(received[-1]) == Heartbeat(n=total - 1)


async def test_spool_survives_a_producer_restart(nats_server, tmp_path):
    nats_server.stop()
    first = EventProducer(
        nats_server.url, producer_id="p2", spool_dir=tmp_path / "spool", retry_wait_s=0.1
    )
    await first.start()
    for n in range(1000):
        first.publish(Heartbeat(n=n))
    await first.aclose(drain_timeout_s=0.5)  # NATS is down: everything goes to disk
    assert (tmp_path / "spool" / "spool.jsonl").exists()

    nats_server.start()
    second = EventProducer(nats_server.url, producer_id="p2", spool_dir=tmp_path / "spool")
    await second.start()
    await second.aclose(drain_timeout_s=20)
    received = await consume_all(nats_server.url, "restart", 1000)
    assert [decode(e).n for e in received] == list(range(1000))
    assert not (tmp_path / "spool" / "spool.jsonl").exists()


async def test_events_carry_the_request_id(nats_server, tmp_path):
    from reelcloud.platform.logging import request_id_var

    producer = EventProducer(nats_server.url, producer_id="p3", spool_dir=tmp_path / "spool")
    await producer.start()
    token = request_id_var.set("req-42")
    try:
        producer.publish(Heartbeat(n=1))
    finally:
        request_id_var.reset(token)
    await producer.aclose()
    (received,) = await consume_all(nats_server.url, "rid", 1)
    assert received.request_id == "req-42"
    assert received.producer == "p3"
