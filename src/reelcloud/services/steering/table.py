"""The steering decision: which OCAs should serve this client these files, best first.

Like BGP route selection at Open Connect, candidates are the OCAs whose announced prefixes
contain the client's address (all covering prefixes, found in a radix tree), ranked by

1. site: embedded in the client's ISP before an IXP before anything else,
2. the longer matching prefix (more specific routes win),
3. lower load (open connections, from the OCA's last report),

keeping only usable OCAs (fresh reports, not draining, few errors) that hold every requested
file. When that leaves nothing, the list widens to the IXP site's OCAs, then the designated
origin-backed OCA, then any other usable OCA — but only ever to usable OCAs holding every
requested file: an OCA that does not hold a file answers 404, so a play steered to it fails.
When no usable OCA holds the files, the answer is empty (the title is not playable yet; cache
control's availability, which the catalog lists, uses the same notion, so listed means steered).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import radix

from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.steering_state import SteeringState

SITE_PREFERENCE = {"embedded": 0, "ixp": 1}
DEFAULT_RESULTS = 10


@dataclass
class OcaView:
    """What steering knows of one OCA, from cache control's state."""

    id: str
    site: str
    site_kind: str
    address: str
    port: int
    prefixes: list[str]
    last_report_at: float | None
    healthy: bool  # by its own report: not draining, error rate low
    load: int
    content: frozenset[str] = field(default_factory=frozenset)
    titles: frozenset[str] = field(default_factory=frozenset)  # held with every playable file

    def is_usable(self, now: float, stale_after_s: float) -> bool:
        """Cache control's `OcaState.is_healthy`, judged on steering's clock."""
        return (
            self.healthy
            and self.last_report_at is not None
            and now - self.last_report_at <= stale_after_s
        )


@dataclass(frozen=True)
class Choice:
    oca: OcaView
    reason: str  # embedded | ixp | fallback-ixp | fallback-origin | fallback-other


class SteeringTable:
    def __init__(self, origin_oca: str, stale_after_s: float, clock: Clock | None = None) -> None:
        self.origin_oca = origin_oca
        self.stale_after_s = stale_after_s
        self.clock = clock or SystemClock()
        self.ocas: dict[str, OcaView] = {}
        self.content_version: str | None = None  # cache control's, opaque
        self._tree = radix.Radix()
        self._prefixes: dict[str, tuple[str, ...]] = {}

    # ---- state ---------------------------------------------------------------------------------

    def load(self, snapshot: SteeringState) -> None:
        """Take cache control's state in; holdings come only when they changed."""
        now = self.clock.now()
        self.stale_after_s = snapshot.stale_after_s
        ocas = {}
        for entry in snapshot.ocas:
            old = self.ocas.get(entry.id)
            if entry.content_ids is not None:
                content = frozenset(entry.content_ids)
                titles = frozenset(entry.titles_held or ())
            else:
                content = old.content if old else frozenset()
                titles = old.titles if old else frozenset()
            age = entry.report_age_s
            ocas[entry.id] = OcaView(
                id=entry.id,
                site=entry.site,
                site_kind=entry.site_kind,
                address=entry.address,
                port=entry.port,
                prefixes=list(entry.prefixes),
                last_report_at=None if age is None else now - age,
                healthy=entry.reports_ok,
                load=entry.load,
                content=content,
                titles=titles,
            )
        self.ocas = ocas
        if snapshot.has_content:
            self.content_version = snapshot.content_version
        self._index_prefixes()

    def _index_prefixes(self) -> None:
        wanted = {oca_id: tuple(view.prefixes) for oca_id, view in self.ocas.items()}
        if wanted == self._prefixes:
            return
        tree = radix.Radix()
        for oca_id, prefixes in wanted.items():
            for prefix in prefixes:
                node = tree.search_exact(prefix) or tree.add(prefix)
                node.data.setdefault("ocas", []).append(oca_id)
        self._tree = tree
        self._prefixes = wanted

    def add_prefix(self, prefix: str, oca_id: str) -> None:
        """Announce one more prefix for an OCA (benchmarks build large tables this way)."""
        node = self._tree.search_exact(prefix) or self._tree.add(prefix)
        node.data.setdefault("ocas", []).append(oca_id)

    # ---- decisions -----------------------------------------------------------------------------

    def rank(
        self, address: str, content_ids: frozenset[str], limit: int = DEFAULT_RESULTS
    ) -> list[Choice]:
        ipaddress.ip_address(address)  # ValueError for a malformed address
        now = self.clock.now()
        best_prefix: dict[str, int] = {}
        for node in self._tree.search_covering(address):
            for oca_id in node.data.get("ocas", ()):
                if node.prefixlen > best_prefix.get(oca_id, -1):
                    best_prefix[oca_id] = node.prefixlen
        candidates = []
        for oca_id, prefixlen in best_prefix.items():
            view = self.ocas.get(oca_id)
            if view is None or not view.is_usable(now, self.stale_after_s):
                continue
            if not content_ids <= view.content:
                continue
            preference = SITE_PREFERENCE.get(view.site_kind, len(SITE_PREFERENCE))
            candidates.append(((preference, -prefixlen, view.load, view.id), view))
        candidates.sort(key=lambda c: c[0])
        choices = [Choice(view, view.site_kind) for _, view in candidates[:limit]]
        if not choices:
            choices = self._fallback(content_ids, now)[:limit]
        return choices

    def _fallback(self, content_ids: frozenset[str], now: float) -> list[Choice]:
        """Nobody announcing the client's prefix can serve it: the IXP site, then the origin
        OCA, then any other OCA — each only if usable and holding every requested file."""
        serving = [
            v
            for v in self.ocas.values()
            if v.is_usable(now, self.stale_after_s) and content_ids <= v.content
        ]
        ixp = sorted((v for v in serving if v.site_kind == "ixp"), key=lambda v: (v.load, v.id))
        choices = [Choice(v, "fallback-ixp") for v in ixp]
        chosen = {v.id for v in ixp}
        origin = next((v for v in serving if v.id == self.origin_oca), None)
        if origin is not None and origin.id not in chosen:
            choices.append(Choice(origin, "fallback-origin"))
            chosen.add(origin.id)
        others = sorted(
            (v for v in serving if v.id not in chosen),
            key=lambda v: (SITE_PREFERENCE.get(v.site_kind, len(SITE_PREFERENCE)), v.load, v.id),
        )
        return choices + [Choice(v, "fallback-other") for v in others]

    def order_pathways(self, pathways: list[str], title_id: str) -> list[str]:
        """A play's pathways (OCA ids) as the steering manifest gives them now, in their steered
        order: those holding every playable file of the title, the usable ones only — unless
        none is usable (a player needs a pathway, and a late report does not mean an OCA stopped
        serving). Never one that does not hold the title: empty when none does (players keep
        the pathway they have)."""
        now = self.clock.now()
        holding = [p for p in pathways if p in self.ocas and title_id in self.ocas[p].titles]
        usable = [p for p in holding if self.ocas[p].is_usable(now, self.stale_after_s)]
        return usable or holding
