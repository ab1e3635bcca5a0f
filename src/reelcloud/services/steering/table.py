"""The steering decision: which OCAs should serve this client these files, best first.

Like BGP route selection at Open Connect, candidates are the OCAs whose announced prefixes
contain the client's address (all covering prefixes, found in a radix tree), ranked by

1. site: embedded in the client's ISP before an IXP before anything else,
2. the longer matching prefix (more specific routes win),
3. lower load (open connections, from the OCA's last report),

keeping only healthy OCAs (fresh reports, not draining, few errors) that hold every requested
file. When that leaves nothing, IXP OCAs and then the designated origin-backed OCA are added,
so a play never gets an empty list.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import radix

from reelcloud.platform.clock import Clock, SystemClock

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

    def is_usable(self, now: float, stale_after_s: float) -> bool:
        return (
            self.healthy
            and self.last_report_at is not None
            and now - self.last_report_at <= stale_after_s
        )


@dataclass(frozen=True)
class Choice:
    oca: OcaView
    reason: str  # embedded | ixp | fallback-ixp | fallback-origin


class SteeringTable:
    def __init__(self, origin_oca: str, stale_after_s: float, clock: Clock | None = None) -> None:
        self.origin_oca = origin_oca
        self.stale_after_s = stale_after_s
        self.clock = clock or SystemClock()
        self.ocas: dict[str, OcaView] = {}
        self.content_version = -1
        self._tree = radix.Radix()
        self._prefixes: dict[str, tuple[str, ...]] = {}

    # ---- state ---------------------------------------------------------------------------------

    def load(self, snapshot: dict[str, Any]) -> None:
        """Take cache control's state in; content ids come only when they changed."""
        now = self.clock.now()
        self.stale_after_s = float(snapshot.get("stale_after_s", self.stale_after_s))
        ocas = {}
        for entry in snapshot["ocas"]:
            old = self.ocas.get(entry["id"])
            if "content_ids" in entry:
                content = frozenset(entry["content_ids"])
            else:
                content = old.content if old else frozenset()
            age = entry["report_age_s"]
            ocas[entry["id"]] = OcaView(
                id=entry["id"],
                site=entry["site"],
                site_kind=entry["site_kind"],
                address=entry["address"],
                port=int(entry["port"]),
                prefixes=list(entry["prefixes"]),
                last_report_at=None if age is None else now - float(age),
                healthy=bool(entry["reports_ok"]),
                load=int(entry["load"]),
                content=content,
            )
        self.ocas = ocas
        if any("content_ids" in entry for entry in snapshot["ocas"]):
            self.content_version = int(snapshot["content_version"])
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
        """Nobody announcing the client's prefix can serve: the IXP site, then the origin OCA."""
        ixp = [
            v
            for v in self.ocas.values()
            if v.site_kind == "ixp" and v.is_usable(now, self.stale_after_s)
        ]
        ixp.sort(key=lambda v: (not content_ids <= v.content, v.load, v.id))
        choices = [Choice(v, "fallback-ixp") for v in ixp]
        origin = self.ocas.get(self.origin_oca)
        if origin is not None and all(c.oca.id != origin.id for c in choices):
            choices.append(Choice(origin, "fallback-origin"))
        return choices

    def order_pathways(self, pathways: list[str]) -> list[str]:
        """A play's pathways (OCA ids) as the steering manifest gives them now: the usable ones
        in their steered order, the others dropped (all kept only if none is usable, since a
        player needs at least one)."""
        now = self.clock.now()
        usable = [
            p
            for p in pathways
            if p in self.ocas and self.ocas[p].is_usable(now, self.stale_after_s)
        ]
        return usable or list(pathways)
