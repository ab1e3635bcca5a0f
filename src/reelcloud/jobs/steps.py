"""Steps every job shares: events are the router's envelopes (JSON), delivered at least once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quixstreams.state import State as QuixState

State = QuixState[str, Any]

Event = dict[str, Any]


def of_type(*types: str) -> Any:
    """A filter: envelopes of these event types."""

    def wanted(event: Event) -> bool:
        return isinstance(event, dict) and event.get("type") in types

    return wanted


def first_delivery(event: Event, state: State) -> bool:
    """A stateful filter: the first copy of each event id (a retried or redelivered topic
    write, or a replay, brings copies; the state is committed with the offsets, so a job
    restarted from its last checkpoint sees the same)."""
    seen = f"id:{event['id']}"
    if state.exists(seen):
        return False
    state.set(seen, 1)
    return True


def count(counts: dict[str, int], item: str) -> dict[str, int]:
    """A window reducer: how often each item came."""
    counts[item] = counts.get(item, 0) + 1
    return counts


def first_count(item: str) -> dict[str, int]:
    return {item: 1}


# Quix's late-record callback: (value, key, timestamp_ms, late_by_ms, start, end, store name,
# topic, partition, offset) -> whether Quix should log the record itself.
OnLate = Callable[..., bool]
