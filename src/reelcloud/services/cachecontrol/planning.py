"""Fill planning: which titles each OCA should hold, and where it should fetch them from.

Placement is by popularity: every OCA takes fill units (`titles.rank_units`: whole titles, or
single renditions once plays are counted per rung) in rank order while they fit in its disk
(less a headroom), so a storage OCA at the IXP, sized for the catalog, holds everything, and
an embedded offload OCA holds the head of the popularity curve, only the rungs that are watched.
A plan gives each OCA the part of each title it should hold: a `Title` of those files.

Sources follow Open Connect's escalation: a peer in the same site that has the title (peer
fill), else an OCA in an upstream site (tier fill), else the origin (cache fill). So that a
site pulls a title across the tier once, one OCA per site and title, the fill master, chosen by
rendezvous hashing, fetches from upstream while its site peers wait for it; anyone who has
waited `escalation_s` goes one step further.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from reelcloud.platform.topology import OcaConfig, OpenConnectConfig
from reelcloud.services.cachecontrol.fleet import Fleet, OcaState
from reelcloud.services.cachecontrol.titles import Demand, FillUnit, Title, rank_units

FILL_HEADROOM = 0.95  # keep some disk free for the next title while an old one is evicted


def placement(
    config: OpenConnectConfig,
    ranked: list[Title],
    demand: Demand | None = None,
    now: float | None = None,
) -> dict[str, list[Title]]:
    """What each OCA should hold, most wanted first: of each title, the `Title` made of the
    files placed there (the title itself when it is placed whole). `ranked` is `rank`'s order;
    `demand`, plays counted per (title id, rung), places single renditions (none: whole titles);
    `now` tells new releases (`Title.is_new`)."""
    units = rank_units(ranked, demand or {}, now)
    parts: dict[tuple[str, frozenset[str]], Title] = {}  # OCAs of one size plan the same parts
    plan = {}
    for oca in config.ocas:
        held = fit(units, int(oca.capacity_bytes * FILL_HEADROOM))
        plan[oca.id] = [
            parts.setdefault((title.title_id, names), title.with_renditions(names))
            for title, names in held
        ]
    return plan


def fit(units: list[FillUnit], budget: int) -> list[tuple[Title, frozenset[str]]]:
    """Each unit in order while it fits (one that does not is skipped: a smaller one may still
    fit): the titles placed, in the order of their first unit, with their renditions."""
    held: dict[str, tuple[Title, set[str]]] = {}
    for unit in units:
        title = unit.title
        if title.title_id not in held:
            wanted = unit.renditions
            # A title's first rendition brings its base: no use without the audio.
            cost = title.base_size + sum(title.rendition_sizes[name] for name in wanted)
        else:
            wanted = unit.renditions - held[title.title_id][1]
            cost = sum(title.rendition_sizes[name] for name in wanted)
            if not wanted:
                continue
        if cost <= budget:
            budget -= cost
            held.setdefault(title.title_id, (title, set()))[1].update(wanted)
    return [(title, frozenset(names)) for title, names in held.values()]


def fill_master(title_id: str, candidates: list[OcaConfig]) -> OcaConfig | None:
    """The OCA of a site that fetches a title from upstream (highest rendezvous weight)."""

    def weight(oca: OcaConfig) -> bytes:
        return hashlib.sha256(f"{title_id}/{oca.id}".encode()).digest()

    return max(candidates, key=weight, default=None)


@dataclass(frozen=True)
class Sources:
    """Where one OCA may fetch one title now; nothing at all means: wait for a peer/upstream."""

    ocas: list[tuple[OcaState, str]]  # (source, "peer" | "tier"), best first
    origin: bool

    @property
    def waiting(self) -> bool:
        return not self.ocas and not self.origin

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {
                "oca_id": state.config.id,
                "address": state.config.address,
                "port": state.port,
                "kind": kind,
            }
            for state, kind in self.ocas
        ]


def sources_for(
    fleet: Fleet,
    plan: dict[str, list[Title]],
    oca: OcaConfig,
    title: Title,
    waited_s: float,
    escalation_s: float,
) -> Sources:
    config = fleet.config
    healthy = {state.config.id: state for state in fleet.healthy()}
    ids = title.content_ids
    site = config.site(oca.site)

    def plans_it(state: OcaState) -> bool:
        return any(t.title_id == title.title_id for t in plan.get(state.config.id, []))

    site_ocas = [s for s in healthy.values() if s.site.name == site.name and s.config.id != oca.id]
    peers = [(s, "peer") for s in site_ocas if s.holds(ids)]
    if peers:
        return Sources(sorted(peers, key=lambda p: p[0].health.active_connections), origin=False)  # type: ignore[union-attr]
    wanting = [s.config for s in site_ocas if plans_it(s)] + [oca]
    master = fill_master(title.title_id, wanting)
    if master is not None and master.id != oca.id and waited_s < escalation_s:
        return Sources([], origin=False)  # the master brings it into the site
    upstream = [s for name in site.upstreams for s in healthy.values() if s.site.name == name]
    tier = [(s, "tier") for s in upstream if s.holds(ids)]
    if tier:
        return Sources(tier, origin=False)
    upstream_will_have_it = any(plans_it(s) for s in upstream)
    if upstream_will_have_it and waited_s < 2 * escalation_s:
        return Sources([], origin=False)
    return Sources([], origin=True)
