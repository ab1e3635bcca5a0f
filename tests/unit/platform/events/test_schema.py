from typing import ClassVar

import pytest

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.events import Envelope, EventPayload, decode, event_types


class TitleAdded(EventPayload):
    event_type: ClassVar[str] = "catalog.title_added"
    event_version: ClassVar[int] = 2
    title_id: str
    name: str


def envelope(**overrides):
    values = {
        "id": "abc",
        "type": "catalog.title_added",
        "version": 2,
        "time": 1.0,
        "producer": "p",
        "seq": 0,
        "request_id": None,
        "payload": {"title_id": "t1", "name": "Dune"},
    }
    values.update(overrides)
    return Envelope(**values)


def test_typed_payloads_round_trip_through_the_envelope():
    original = envelope()
    decoded = decode(Envelope.from_bytes(original.to_bytes()))
    assert decoded == TitleAdded(title_id="t1", name="Dune")
    assert event_types()["catalog.title_added"] is TitleAdded
    assert original.subject == "events.catalog.title_added"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "catalog.unknown"}, "unknown event type"),
        ({"version": 3}, "newer than this reader"),
        ({"payload": {"title_id": "t1"}}, "bad catalog.title_added payload"),
        ({"payload": {"title_id": "t1", "name": "x", "extra": 1}}, "bad catalog.title_added"),
    ],
)
def test_bad_events_are_refused(changes, message):
    with pytest.raises(BadRequestError, match=message):
        decode(envelope(**changes))


def test_garbage_is_not_an_envelope():
    with pytest.raises(BadRequestError):
        Envelope.from_bytes(b"{nope")
    with pytest.raises(BadRequestError):
        Envelope.from_bytes(b'{"id": 1}')


def test_event_type_names_are_checked():
    with pytest.raises(ValueError, match=r"domain\.action"):

        class Bad(EventPayload):
            event_type: ClassVar[str] = "NoDots"
