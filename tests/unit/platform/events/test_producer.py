"""What the producer makes of JetStream's answers, and what it refuses before sending."""

from typing import ClassVar

import orjson
import pytest
from nats.aio.msg import Msg

from reelcloud.platform.events import EventPayload, EventProducer, EventTooLargeError, Reason
from reelcloud.platform.events.producer import ack_outcome, wire_bytes


class Note(EventPayload):
    event_type: ClassVar[str] = "test.note"
    text: str


def ack(data=b"", headers=None):
    return Msg(None, subject="_INBOX.x.1.0", data=data, headers=headers)  # type: ignore[arg-type]


def error(code, err_code, description="d"):
    return orjson.dumps({"error": {"code": code, "err_code": err_code, "description": description}})


@pytest.mark.parametrize(
    ("answer", "kind", "reason"),
    [
        (ack(b'{"stream":"EVENTS","seq":7}'), "ok", None),
        (ack(b'{"stream":"EVENTS","seq":7,"duplicate":true}'), "ok", None),
        (ack(error(400, 10054, "message size exceeds maximum allowed")), "permanent", "refused"),
        (ack(headers={"Status": "503"}), "transient", None),  # no stream on the subject
        (ack(error(503, 10008, "JetStream system temporarily unavailable")), "transient", None),
        (ack(error(408, 0)), "transient", None),
        (ack(b'{"error": "not JetStream\'s"}'), "transient", None),
    ],
)
def test_acks_are_read_message_by_message(answer, kind, reason):
    outcome = ack_outcome(answer)
    assert outcome.kind.value == kind
    assert (outcome.reason and outcome.reason.value) == reason


def test_publish_refuses_an_event_the_bus_could_never_take(tmp_path):
    producer = EventProducer(
        "nats://127.0.0.1:1", producer_id="p", spool_dir=tmp_path, max_payload_bytes=1000
    )
    assert producer.publish(Note(text="x" * 600)) is not None
    with pytest.raises(EventTooLargeError) as refused:
        producer.publish(Note(text="x" * 1000))
    assert refused.value.status == 413
    assert refused.value.code == "event_too_large"
    assert producer.stats["buffered"] == 1  # nothing queued for the refused one


def test_the_headers_count_against_the_max_payload():
    # NATS counts headers and payload against max_payload, and closes the connection of a
    # client that sends more: "NATS/1.0\r\nNats-Msg-Id: <id>\r\n\r\n" is counted here.
    assert wire_bytes("a" * 32, b"x" * 100) == 100 + 32 + len(b"NATS/1.0\r\nNats-Msg-Id: \r\n\r\n")


def test_dead_letter_reasons_are_a_closed_set():
    # They label a counter: a fixed vocabulary, never text from the event.
    assert {r.value for r in Reason} == {"max_payload", "invalid_subject", "unreadable", "refused"}
