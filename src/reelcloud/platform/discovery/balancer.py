"""Choosing an instance: round-robin over usable instances, same zone first.

Like Ribbon's zone affinity: while the caller's zone has a usable instance, traffic stays in
the zone; when it has none, every zone is used.
"""

from __future__ import annotations

from collections import defaultdict

from reelcloud.platform.eureka import InstanceInfo


class ZoneAwareRoundRobin:
    def __init__(self, zone: str) -> None:
        self.zone = zone
        self._counters: defaultdict[str, int] = defaultdict(int)

    def choose(self, app: str, candidates: list[InstanceInfo]) -> InstanceInfo | None:
        if not candidates:
            return None
        local = [c for c in candidates if c.zone == self.zone]
        pool = sorted(local or candidates, key=lambda c: c.instance_id)
        index = self._counters[app] % len(pool)
        self._counters[app] += 1
        return pool[index]
