"""The current state of every OCA, as its reports tell it.

A report carries health, the prefixes the OCA serves, and what it holds: the full list of
content ids in its first report, then only what was added and removed. Sequence numbers tie the
deltas together; a gap (a lost report, or cache control restarted) asks the OCA for a full list.
An OCA whose reports stop is stale after `stale_after_reports` intervals and leaves steering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.topology import OcaConfig, OpenConnectConfig, SiteConfig
from reelcloud.services.cachecontrol.models import Health, Report

UNHEALTHY_ERROR_RATE = 0.5


@dataclass
class OcaState:
    config: OcaConfig
    site: SiteConfig
    port: int
    last_report_at: float | None = None  # unix time
    seq: int = -1
    health: Health | None = None
    prefixes: list[str] = field(default_factory=list)
    content: set[str] = field(default_factory=set)
    fill: dict[str, Any] = field(default_factory=dict)

    @property
    def reports_ok(self) -> bool:
        """Its last report says it can serve: not draining, few errors."""
        health = self.health
        return (
            health is not None and not health.draining and health.error_rate < UNHEALTHY_ERROR_RATE
        )

    def is_healthy(self, now: float, stale_after_s: float) -> bool:
        """Fresh and reporting ok: steering's notion of usable (`OcaView.is_usable`, from the
        same `report_age_s`, `reports_ok` and `stale_after_s` this service sends it)."""
        if self.last_report_at is None or now - self.last_report_at > stale_after_s:
            return False
        return self.reports_ok

    def holds(self, content_ids: frozenset[str]) -> bool:
        return content_ids <= self.content


class Fleet:
    def __init__(self, config: OpenConnectConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        sites = {site.name: site for site in config.sites}
        self.ocas = {oca.id: OcaState(oca, sites[oca.site], config.port) for oca in config.ocas}
        self.content_version = 0  # bumped whenever any OCA's holdings change

    @property
    def stale_after_s(self) -> float:
        return self.config.report_interval_s * self.config.stale_after_reports

    def state(self, oca_id: str) -> OcaState:
        state = self.ocas.get(oca_id)
        if state is None:
            raise NotFoundError(f"OCA {oca_id!r} is not in the topology")
        return state

    def apply(self, oca_id: str, report: Report) -> bool:
        """Take a report in; True when the OCA must send its full content list next time."""
        state = self.state(oca_id)
        state.last_report_at = self.clock.now()
        state.health = report.health
        state.prefixes = report.prefixes
        state.fill = report.fill
        if report.full is not None:
            content = set(report.full)
        elif report.seq == state.seq + 1:
            content = (state.content | set(report.added)) - set(report.removed)
        else:
            state.seq = -1
            return True  # a gap: the deltas cannot be trusted
        state.seq = report.seq
        if content != state.content:
            state.content = content
            self.content_version += 1
        return False

    def healthy(self, now: float | None = None) -> list[OcaState]:
        at = self.clock.now() if now is None else now
        return [s for s in self.ocas.values() if s.is_healthy(at, self.stale_after_s)]
