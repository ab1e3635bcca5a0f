"""Cache control's logic, framework-free: reports and counted plays in; fill manifests, steering
state, availability and the OCA summary out."""

from __future__ import annotations

import logging
import secrets

from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.steering_state import SteeringOca, SteeringState
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.cachecontrol.availability import AvailabilityTracker
from reelcloud.services.cachecontrol.demand import DemandFeed, PopularitySource
from reelcloud.services.cachecontrol.fleet import Fleet, OcaState
from reelcloud.services.cachecontrol.models import (
    AvailabilityReply,
    FillFile,
    FillManifest,
    FillNowReply,
    FillSource,
    FillTitle,
    OcasReply,
    OcaSummary,
    Report,
    ReportReply,
    TitleAvailability,
)
from reelcloud.services.cachecontrol.planning import placement, sources_for
from reelcloud.services.cachecontrol.settings import CacheControlSettings
from reelcloud.services.cachecontrol.titles import ManifestSource, Title, TitleCatalog

log = logging.getLogger(__name__)


class CacheControl:
    def __init__(
        self,
        config: OpenConnectConfig,
        options: CacheControlSettings,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.clock = clock or SystemClock()
        self.fleet = Fleet(config, clock=self.clock)
        self.catalog = TitleCatalog()
        self.availability_tracker = AvailabilityTracker(self.clock, options.offer_delay_s)
        self.demand = DemandFeed(self.clock)
        self.fill_generation = 0  # bumped by POST /v1/fill/now
        # A restarted cache control starts counting versions again: the epoch keeps steering
        # from taking a new state for the old one it already has.
        self._epoch = secrets.token_hex(4)
        self._plan: dict[str, list[Title]] = {}
        self._first_wanted: dict[tuple[str, str], float] = {}

    # ---- in --------------------------------------------------------------------------------------

    def receive(self, oca_id: str, report: Report) -> ReportReply:
        state = self.fleet.state(oca_id)
        was_usable = state.is_healthy(self.clock.now(), self.fleet.stale_after_s)
        version = self.fleet.content_version
        need_full = self.fleet.apply(oca_id, report)
        now_usable = state.is_healthy(self.clock.now(), self.fleet.stale_after_s)
        if version != self.fleet.content_version or was_usable != now_usable:
            # Availability can change only here or by time passing (a holder going stale):
            # looking now dates "held since" from this report, not from the next read.
            self.availability_tracker.evaluate(self.catalog.ranked(), self.fleet)
        return ReportReply(need_full=need_full)

    async def refresh_catalog(self, source: ManifestSource) -> None:
        if await self.catalog.refresh(source):
            self.availability_tracker.evaluate(self.catalog.ranked(), self.fleet)
        self.replan()

    async def read_demand(self, source: PopularitySource) -> bool:
        """Read the plays counted per rendition and replan when they changed; False when the
        source failed (the plan keeps following the last counts)."""
        demand = await self.demand.read(source, self.options.demand_days)
        if demand is None:
            return False
        if self.catalog.count_plays(demand):
            log.info(
                "plays counted for %d renditions of %d titles: replanning",
                len(self.catalog.rendition_plays),
                len(self.catalog.plays),
            )
            self.replan()
        return True

    def replan(self) -> None:
        now = self.clock.now()
        by_rendition = self.options.placement_unit == "rendition"
        self._plan = placement(
            self.config, self.catalog.ranked(now),
            self.catalog.rendition_plays if by_rendition else None, now=now,
        )  # fmt: skip

    def fill_now(self) -> FillNowReply:
        self.fill_generation += 1
        log.info("out-of-window fill requested (generation %d)", self.fill_generation)
        return FillNowReply(fill_now=self.fill_generation)

    # ---- out -------------------------------------------------------------------------------------

    def fill_manifest(self, oca_id: str) -> FillManifest:
        oca = self.fleet.state(oca_id).config
        now = self.clock.now()
        titles = []
        for rank, title in enumerate(self._plan.get(oca_id, []), start=1):
            first = self._first_wanted.setdefault((oca_id, title.title_id), now)
            sources = sources_for(
                self.fleet, self._plan, oca, title, now - first, self.options.escalation_s
            )
            titles.append(
                FillTitle(
                    title_id=title.title_id,
                    rank=rank,
                    new=title.is_new(now),
                    size=title.size,
                    files=[
                        FillFile(name=f.name, content_id=f.content_id, size=f.size)
                        for f in title.files
                    ],
                    sources=[
                        FillSource(
                            oca_id=state.config.id,
                            address=state.config.address,
                            port=state.port,
                            kind=kind,
                        )
                        for state, kind in sources.ocas
                    ],
                    origin=sources.origin,
                )
            )
        return FillManifest(
            oca_id=oca_id, generated_at=now, fill_now=self.fill_generation, titles=titles
        )

    @property
    def content_version(self) -> str:
        return f"{self._epoch}.{self.fleet.content_version}.{self.catalog.version}"

    def steering_state(self, known_version: str | None) -> SteeringState:
        """What steering reads: health every time (cheap), holdings only when they changed
        since `known_version`."""
        version = self.content_version
        with_content = known_version != version
        now = self.clock.now()
        titles = list(self.catalog.titles.values())
        return SteeringState(
            stale_after_s=self.fleet.stale_after_s,
            content_version=version,
            ocas=[
                self._steering_oca(state, now, titles, with_content)
                for state in self.fleet.ocas.values()
            ],
        )

    def _steering_oca(
        self, state: OcaState, now: float, titles: list[Title], with_content: bool
    ) -> SteeringOca:
        return SteeringOca(
            id=state.config.id,
            site=state.site.name,
            site_kind=state.site.kind,
            address=state.config.address,
            port=state.port,
            prefixes=state.prefixes,
            report_age_s=None
            if state.last_report_at is None
            else round(now - state.last_report_at, 3),
            reports_ok=state.reports_ok,
            load=state.health.active_connections if state.health else 0,
            content_ids=sorted(state.content) if with_content else None,
            titles_held=sorted(t.title_id for t in titles if state.holds(t.playable_ids))
            if with_content
            else None,
        )

    def availability(self) -> AvailabilityReply:
        evaluated = self.availability_tracker.evaluate(self.catalog.ranked(), self.fleet)
        return AvailabilityReply(
            generated_at=self.clock.now(),
            titles=[
                TitleAvailability(
                    title_id=a.title_id, playable=a.playable, since=a.since, ocas=list(a.ocas)
                )
                for a in evaluated
            ],
        )

    def summary(self) -> OcasReply:
        now = self.clock.now()
        titles = self.catalog.ranked()
        ocas = []
        for oca_id, state in self.fleet.ocas.items():
            # A title counts as held when the OCA holds the part of it planned there (the
            # renditions placed on it), or all of it.
            planned = {t.title_id: t for t in self._plan.get(oca_id, [])}
            ocas.append(
                OcaSummary(
                    id=oca_id,
                    site=state.site.name,
                    kind=state.config.kind,
                    address=f"{state.config.address}:{state.port}",
                    healthy=state.is_healthy(now, self.fleet.stale_after_s),
                    report_age_s=None
                    if state.last_report_at is None
                    else round(now - state.last_report_at, 1),
                    titles_held=sum(
                        1 for t in titles if state.holds(planned.get(t.title_id, t).content_ids)
                    ),
                    titles_playable=sum(1 for t in titles if state.holds(t.playable_ids)),
                    titles_planned=len(self._plan.get(oca_id, [])),
                    health=state.health,
                    fill=state.fill,
                )
            )
        return OcasReply(
            ocas=ocas,
            titles=[t.title_id for t in titles],
            fill_now=self.fill_generation,
            demand=self.demand.summary(),
        )
