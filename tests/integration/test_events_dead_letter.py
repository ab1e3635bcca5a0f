"""One event that can never be published blocks nothing: against a real nats-server, the events
around it arrive exactly once and in order, it goes to the dead-letter file with its reason,
and the counter says so. Passing failures (no stream) are retried and lose nothing."""

from typing import ClassVar

import nats
import orjson
import pytest
from tests.support.engines import NatsServer
from tests.support.events import consume_all
from tests.support.waiting import wait_for

from reelcloud.platform.events import (
    DEAD_LETTER_FILE,
    EventPayload,
    EventProducer,
    EventTooLargeError,
    decode,
)
from reelcloud.platform.events.schema import STREAM

pytestmark = pytest.mark.asyncio

BIG = 2 * 1024 * 1024  # twice NATS' default max payload


class Tick(EventPayload):
    event_type: ClassVar[str] = "test.tick"
    n: int
    note: str = ""


def dead_letters(spool_dir):
    path = spool_dir / DEAD_LETTER_FILE
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def dead_lettered(producer, reason):
    return producer.metrics.value("reelcloud_events_dead_lettered_total", reason=reason)


async def test_an_oversized_event_mid_stream_is_dead_lettered_and_the_rest_arrive_once(
    nats_server, tmp_path
):
    spool = tmp_path / "spool"
    # A cap above the server's 1 MiB, and no connection yet: publish() cannot know the
    # server's limit, so the big event is queued, as it is by a producer whose server's
    # limit shrank. The sender learns the limit from the server's INFO.
    producer = EventProducer(
        nats_server.url, producer_id="p-big", spool_dir=spool, max_payload_bytes=4 * BIG
    )
    for n in range(1000):
        producer.publish(Tick(n=n, note="x" * BIG if n == 500 else ""))
    await producer.start()
    try:
        await wait_for(
            lambda: producer.stats["published"] == 999,
            what=lambda: f"999 events published around the big one ({producer.stats})",
        )
        assert producer.max_event_bytes == 1024 * 1024  # the server's INFO
        with pytest.raises(EventTooLargeError, match=r"test\.tick event of \d+ bytes"):
            producer.publish(Tick(n=1000, note="x" * BIG))  # now it knows: refused at once
        producer.publish(Tick(n=1001))
    finally:
        await producer.aclose(drain_timeout_s=10)

    received = await consume_all(nats_server.url, "around-big", 1000)
    assert [decode(e).n for e in received] == [*range(500), *range(501, 1000), 1001]
    assert len({e.id for e in received}) == len(received)
    (letter,) = dead_letters(spool)
    assert letter["reason"] == "max_payload"
    assert letter["event"]["payload"]["n"] == 500  # kept whole, for a person to look at
    assert letter["bytes"] > BIG
    assert letter["subject"] == "events.test.tick"
    assert dead_lettered(producer, "max_payload") == 1
    assert producer.stats["dead_lettered"] == 1
    assert (spool / DEAD_LETTER_FILE).stat().st_mode & 0o777 == 0o600


async def test_a_restart_with_a_poisoned_spool_replays_around_the_poison(nats_server, tmp_path):
    # A spool as an older version left it: an event larger than NATS takes, a line that is
    # no envelope, and one whose type makes no subject, between good events; the last line
    # torn by a crash.
    spool = tmp_path / "spool"
    spool.mkdir()

    def envelope(n, **changes):
        return orjson.dumps(
            {
                "id": f"old-{n}", "type": "test.tick", "version": 1, "time": 1.0,
                "producer": "p-old", "seq": n, "request_id": None, "payload": {"n": n},
            } | changes
        )  # fmt: skip

    lines = [envelope(n) for n in range(300)]
    lines[100] = envelope(100, payload={"n": 100, "note": "x" * BIG})
    lines[150] = b'{"half an envelope'
    lines[200] = envelope(200, type="test.bad subject")
    torn = b'{"id": "old-300", "type": "test.ti'  # the old process died mid-write
    (spool / "spool.jsonl").write_bytes(b"".join(line + b"\n" for line in lines) + torn)

    producer = EventProducer(nats_server.url, producer_id="p-old", spool_dir=spool)
    await producer.start()
    try:
        await wait_for(
            lambda: not producer.stats["spool_pending"],
            what=lambda: f"the spool is replayed ({producer.stats})",
        )
    finally:
        await producer.aclose(drain_timeout_s=10)

    received = await consume_all(nats_server.url, "after-restart", 297)
    good = [n for n in range(300) if n not in (100, 150, 200)]
    assert [decode(e).n for e in received] == good  # each once, in order
    letters = dead_letters(spool)
    assert [(d["reason"], d["id"]) for d in letters] == [
        ("max_payload", "old-100"),
        ("unreadable", ""),
        ("invalid_subject", "old-200"),
        ("unreadable", ""),
    ]
    assert letters[1]["raw"] == '{"half an envelope'
    assert letters[3]["raw"] == torn.decode()
    assert dead_lettered(producer, "max_payload") == 1
    assert dead_lettered(producer, "invalid_subject") == 1
    assert dead_lettered(producer, "unreadable") == 2
    assert not (spool / "spool.jsonl").exists()


async def test_an_event_jetstream_refuses_for_good_is_dead_lettered(nats_server, tmp_path):
    bus = await nats.connect(nats_server.url)
    producer = EventProducer(nats_server.url, producer_id="p-ref", spool_dir=tmp_path / "spool")
    await producer.start()
    try:
        producer.publish(Tick(n=0))  # the producer makes the stream
        await wait_for(lambda: producer.stats["published"] == 1, what="the first event")
        js = bus.jetstream()
        config = (await js.stream_info(STREAM)).config
        config.max_msg_size = 10_000  # smaller than NATS' payload limit: JetStream refuses
        await js.update_stream(config)
        for n in range(1, 6):
            producer.publish(Tick(n=n, note="x" * 20_000 if n == 3 else ""))
        await wait_for(
            lambda: producer.stats["published"] == 5,
            what=lambda: f"the events around the refused one are published ({producer.stats})",
        )
    finally:
        await producer.aclose(drain_timeout_s=10)
        await bus.close()
    received = await consume_all(nats_server.url, "refused", 5)
    assert [decode(e).n for e in received] == [0, 1, 2, 4, 5]
    (letter,) = dead_letters(tmp_path / "spool")
    assert letter["reason"] == "refused"
    assert "maximum" in letter["message"]
    assert dead_lettered(producer, "refused") == 1


async def test_events_sent_while_the_stream_is_missing_are_retried_not_lost(nats_server, tmp_path):
    bus = await nats.connect(nats_server.url)
    producer = EventProducer(
        nats_server.url, producer_id="p-gone", spool_dir=tmp_path / "spool", retry_wait_s=0.05
    )
    await producer.start()
    try:
        producer.publish(Tick(n=0))
        await wait_for(lambda: producer.stats["published"] == 1, what="the first event")
        # JetStream answers "no responders" (503) for a subject no stream listens on; that
        # once counted as an ack, and every event sent then was lost.
        await bus.jetstream().delete_stream(STREAM)
        for n in range(1, 101):
            producer.publish(Tick(n=n))
        await wait_for(
            lambda: producer.stats["published"] == 101,
            what=lambda: f"the events are published once the stream is back ({producer.stats})",
        )
        assert producer.stats["failed_batches"] >= 1  # they were refused at first
    finally:
        await producer.aclose(drain_timeout_s=10)
        await bus.close()
    received = await consume_all(nats_server.url, "no-stream", 100)
    assert [decode(e).n for e in received] == list(range(1, 101))
    assert not dead_letters(tmp_path / "spool")


async def test_the_limit_is_the_servers_max_payload_capped_by_the_producers(tmp_path):
    server = NatsServer(tmp_path / "nats", max_payload=64 * 1024)
    server.start()
    producer = EventProducer(server.url, producer_id="p-lim", spool_dir=tmp_path / "spool")
    try:
        await producer.start()
        producer.publish(Tick(n=0))
        await wait_for(lambda: producer.stats["published"] == 1, what="the first event")
        assert producer.max_event_bytes == 64 * 1024
        with pytest.raises(EventTooLargeError):
            producer.publish(Tick(n=1, note="x" * 64 * 1024))
        producer.publish(Tick(n=2, note="x" * 60 * 1024))  # below it, headers included
        await wait_for(lambda: producer.stats["published"] == 2, what="the event below it")
    finally:
        await producer.aclose(drain_timeout_s=10)
        server.stop()
    capped = EventProducer(
        "nats://127.0.0.1:1", producer_id="p-cap", spool_dir=tmp_path / "s2",
        max_payload_bytes=4096,
    )  # fmt: skip
    with pytest.raises(EventTooLargeError):  # a server that takes more is still held to it
        capped.publish(Tick(n=0, note="x" * 4096))
