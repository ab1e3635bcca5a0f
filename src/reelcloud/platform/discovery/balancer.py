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
        # The last candidate list seen per app and the pool chosen from it: discovery hands out
        # the same list object until the registry changes, so most calls skip the sort. The
        # list is held here, so its identity cannot be reused by another list meanwhile.
        self._pools: dict[str, tuple[list[InstanceInfo], list[InstanceInfo]]] = {}

    def choose(self, app: str, candidates: list[InstanceInfo]) -> InstanceInfo | None:
        if not candidates:
            return None
        cached = self._pools.get(app)
        if cached is not None and cached[0] is candidates:
            pool = cached[1]
        else:
            local = [c for c in candidates if c.zone == self.zone]
            pool = sorted(local or candidates, key=lambda c: c.instance_id)
            self._pools[app] = (candidates, pool)
        index = self._counters[app] % len(pool)
        self._counters[app] += 1
        return pool[index]
