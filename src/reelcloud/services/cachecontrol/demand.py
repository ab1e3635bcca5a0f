"""The plays placement follows (`titles.Demand`): counted by the stream jobs' popularity job per
title and video height over the newest days (`GET /jobs/popularity`), each height named as the
ladder names its rung (`rendition_key`).

A read that fails (no jobs service registered, as in a topology without Kafka; unreachable; an
error) keeps the last counts: the plan stays as it was rather than going back to whole titles,
which embedded OCAs would start filling over the renditions they hold. A cache control that
never read any places whole titles by seeded popularity, as it did before plays were counted.
A failing source is logged when it stops answering and when it answers again, not at every
read.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from reelcloud.platform.clock import Clock
from reelcloud.platform.errors import ReelcloudError
from reelcloud.services.cachecontrol.models import DemandSummary, PopularityCounts
from reelcloud.services.cachecontrol.titles import Demand, rendition_key

log = logging.getLogger(__name__)


class PopularitySource(Protocol):
    """Where plays are counted (`store.JobsPopularity`); fails with a `ReelcloudError`."""

    name: str

    async def popularity(self, days: int) -> PopularityCounts: ...


def demand_of(counts: PopularityCounts) -> dict[tuple[str, str], float]:
    """Plays per (title id, rung), from plays per title and height."""
    demand: defaultdict[tuple[str, str], float] = defaultdict(float)
    for count in counts.counts:
        demand[count.title_id, rendition_key(count.height)] += count.plays
    return dict(demand)


@dataclass(frozen=True)
class _Read:
    source: str
    at: float
    days: list[int]
    demand: Demand


class DemandFeed:
    """The last counts read, where from and when."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._last: _Read | None = None
        self.failing_since: float | None = None  # unix time of the first failure in a row

    @property
    def demand(self) -> Demand:
        return {} if self._last is None else self._last.demand

    async def read(self, source: PopularitySource, days: int) -> Demand | None:
        """The counts over the newest `days`, now; None when the source failed (`demand` keeps
        the last ones)."""
        try:
            counts = await source.popularity(days)
        except ReelcloudError as exc:
            if self.failing_since is None:
                self.failing_since = self.clock.now()
                kept = "none yet" if self._last is None else f"{len(self.demand)} renditions"
                log.warning(
                    "plays per rendition unavailable from %s, keeping the last counts (%s): %s",
                    source.name,
                    kept,
                    exc,
                )
            return None
        if self.failing_since is not None:
            log.info("plays per rendition read from %s again", source.name)
            self.failing_since = None
        self._last = _Read(source.name, self.clock.now(), counts.days, demand_of(counts))
        return self._last.demand

    def summary(self) -> DemandSummary | None:
        last = self._last
        if last is None:
            return None
        return DemandSummary(
            source=last.source,
            at=last.at,
            days=last.days,
            titles=len({title_id for (title_id, _), plays in last.demand.items() if plays > 0}),
            renditions=sum(1 for plays in last.demand.values() if plays > 0),
            plays=round(sum(last.demand.values())),
            failing_since=self.failing_since,
        )
