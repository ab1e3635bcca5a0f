"""The events a play emits, one per step (the pipeline's history, trending and popularity
jobs read them)."""

from __future__ import annotations

from typing import Any, ClassVar

from reelcloud.platform.events.schema import EventPayload


class PlayRequested(EventPayload):
    event_type: ClassVar[str] = "play.requested"
    member_id: str
    title_id: str
    profile_id: str
    device_id: str
    client_address: str


class PlayDenied(EventPayload):
    event_type: ClassVar[str] = "play.denied"
    member_id: str
    title_id: str
    reason: str


class PlayStarted(EventPayload):
    event_type: ClassVar[str] = "play.started"
    play_id: str
    member_id: str
    profile_id: str
    title_id: str
    device_id: str
    country: str
    rungs: list[str]
    ocas: list[str]
    steering_fallback: bool
    latency_ms: float


class _PlayProgress(EventPayload):
    """Where a play is and how it goes (the fields heartbeats and stops share)."""

    play_id: str
    member_id: str
    profile_id: str
    title_id: str
    position_s: float
    qoe: dict[str, Any]


class PlayHeartbeat(_PlayProgress):
    event_type: ClassVar[str] = "play.heartbeat"


class PlayStopped(_PlayProgress):
    event_type: ClassVar[str] = "play.stopped"
