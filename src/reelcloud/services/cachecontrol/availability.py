"""Which titles are playable: listed means playable.

A title is playable when at least one usable OCA (a fresh report that says it can serve:
`OcaState.is_healthy`, steering's `OcaView.is_usable`) holds every file a play needs
(`Title.playable_ids`: every rung's HLS files and the audio). Steering widens its fallbacks
only to usable OCAs holding the requested files, so for a playable title it always has a
candidate, and for any other it answers none.

A title becomes playable `offer_delay_s` after an OCA first holds it, so that steering, which
polls this service, has seen the holdings before the catalog offers the title; it stops being
playable as soon as its last holder is stale, unhealthy or lets a file go. Availability is
evaluated when a report changes what an OCA holds or whether it can serve, and when it is read
(the catalog reads it every second): a holder going stale is seen at the next read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reelcloud.platform.clock import Clock
from reelcloud.services.cachecontrol.fleet import Fleet
from reelcloud.services.cachecontrol.titles import Title


@dataclass(frozen=True)
class Availability:
    title_id: str
    playable: bool
    since: float
    ocas: tuple[str, ...]  # usable OCAs holding every playable file now


class AvailabilityTracker:
    def __init__(self, clock: Clock, offer_delay_s: float) -> None:
        self.clock = clock
        self.offer_delay_s = offer_delay_s
        self._held_since: dict[str, float] = {}  # continuously held by a usable OCA since
        self._last: dict[str, Availability] = {}

    def holders(self, title: Title, fleet: Fleet, now: float) -> tuple[str, ...]:
        needed = title.playable_ids
        return tuple(
            state.config.id
            for state in fleet.ocas.values()
            if state.is_healthy(now, fleet.stale_after_s) and state.holds(needed)
        )

    def evaluate(self, titles: Iterable[Title], fleet: Fleet) -> list[Availability]:
        now = self.clock.now()
        current = {}
        for title in titles:
            title_id = title.title_id
            holders = self.holders(title, fleet, now)
            if holders:
                offerable_at = self._held_since.setdefault(title_id, now) + self.offer_delay_s
            else:
                self._held_since.pop(title_id, None)
                offerable_at = None
            playable = offerable_at is not None and offerable_at <= now
            last = self._last.get(title_id)
            if last is not None and last.playable == playable:
                since = last.since
            elif playable and offerable_at is not None:
                since = offerable_at
            else:
                since = now
            current[title_id] = Availability(title_id, playable, since, holders)
        for gone in set(self._held_since) - set(current):  # withdrawn titles
            del self._held_since[gone]
        self._last = current
        return list(current.values())
