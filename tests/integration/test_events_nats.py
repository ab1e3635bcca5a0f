"""The event producer against a real NATS JetStream that goes away and comes back."""

import asyncio
import gc
import inspect
import time
from typing import ClassVar

import pytest
from tests.support.engines import NatsServer

from reelcloud.platform.events import EventConsumer, EventPayload, EventProducer, decode

pytestmark = pytest.mark.asyncio


class Heartbeat(EventPayload):
    event_type: ClassVar[str] = "test.heartbeat"
    n: int


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


async def consume_all(url, durable, expected, timeout_s=60):
    consumer = EventConsumer(url, durable)
    await consumer.start()
    received = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(received) < expected and time.monotonic() < deadline:
            for envelope, message in await consumer.fetch(1000, timeout_s=1):
                received.append(envelope)
                await message.ack()
        # Nothing more than expected arrives.
        extra = await consumer.fetch(10, timeout_s=0.5)
        received += [e for e, _ in extra]
    finally:
        await consumer.aclose()
    return received


async def test_outage_mid_stream_loses_nothing_and_duplicates_nothing(nats_server, tmp_path):
    total = 100_000
    producer = EventProducer(nats_server.url, producer_id="p1", spool_dir=tmp_path / "spool")
    await producer.start()
    slowest_cpu = 0.0
    walls = []
    restarted = False
    # The interpreter's own garbage collection can pause any code for 10+ ms; it is paused
    # here so the timing measures what publish() itself does (no I/O, no awaiting).
    gc.disable()
    for n in range(total):
        started, started_cpu = time.perf_counter(), time.thread_time()
        producer.publish(Heartbeat(n=n))
        slowest_cpu = max(slowest_cpu, time.thread_time() - started_cpu)
        walls.append(time.perf_counter() - started)
        if n % 1000 == 999:
            # The caller's own work between events; the outage lasts about 3 s of it.
            await asyncio.sleep(0.075 if nats_server.proc is None else 0)
        if n == 30_000:
            nats_server.stop()  # NATS goes away mid-stream
        if n == 70_000:
            nats_server.start()
            restarted = True
    gc.enable()
    assert restarted
    await producer.aclose(drain_timeout_s=60)
    stats = producer.stats
    assert stats["spooled"] > 0  # the outage really went through the spool
    assert stats["dropped"] == 0
    # The work publish() does never takes 1 ms; wall time also holds the rare moment the OS
    # runs another process, so it is checked at the 99.9th percentile.
    assert slowest_cpu < 0.001, f"publish() worked for {slowest_cpu * 1000:.2f} ms"
    walls.sort()
    assert walls[int(len(walls) * 0.999)] < 0.001
    assert not inspect.iscoroutinefunction(EventProducer.publish)  # it cannot await I/O

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
