"""The playback service's data: the facts a play is decided on, and the answer. It serves no
HTTP routes of its own (gRPC only), so there are no body models here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who wants to play, as the Play API found them in accounts."""

    member_id: str
    country: str
    plan: str
    status: str  # active | on_hold
    plan_max_height: int
    max_streams: int
    profile_id: str
    profile_maturity: str
    device_id: str
    device_max_height: int


@dataclass(frozen=True, slots=True)
class TitleFacts:
    """What is to be played, as the Play API found it in the catalog."""

    title_id: str
    maturity: str
    licensed: bool  # in the viewer's country, today
    rungs: tuple[tuple[str, int], ...]  # (name, height)


@dataclass(frozen=True, slots=True)
class Authorization:
    allowed: bool
    reason: str = ""  # plan_on_hold | not_licensed | maturity | no_renditions | too_many_streams
    message: str = ""  # for people
    play_id: str = ""
    rungs: tuple[str, ...] = ()  # lowest first
