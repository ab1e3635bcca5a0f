"""Which OCA to stream from: steering's order, corrected by what the client measures.

Before the first segment the player probes the top candidates (a small ranged GET each, with a
short deadline); `rank` orders them by measured throughput over latency, weighted by steering's
order (steering knows routes and load; the probe knows this client's path). An OCA that failed
or was too slow is penalised for `penalty_s` and used only if nothing else is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    oca_id: str
    throughput_bps: float | None  # None: the probe failed or timed out
    latency_s: float | None


class OcaSelector:
    def __init__(
        self,
        steering_order: list[str],
        *,
        penalty_s: float = 30.0,
        steering_weight: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.order = list(steering_order)
        self.penalty_s = penalty_s
        self.steering_weight = steering_weight
        self._clock = clock
        self._penalised: dict[str, float] = {}  # oca id → until
        self._scores: dict[str, float] = {}

    def score(self, probe: Probe) -> float:
        if probe.throughput_bps is None:
            return 0.0
        position = self.order.index(probe.oca_id) if probe.oca_id in self.order else len(self.order)
        latency = probe.latency_s or 0.0
        return probe.throughput_bps / (1 + 10 * latency) / (1 + self.steering_weight * position)

    def rank(self, probes: list[Probe]) -> list[str]:
        """All candidates, best first: probed and healthy by score, then unprobed in steering's
        order, then failed or penalised ones."""
        for probe in probes:
            if probe.throughput_bps is None:
                self.penalise(probe.oca_id)
            else:
                self._scores[probe.oca_id] = self.score(probe)
        now = self._clock()
        usable = [o for o in self.order if self._penalised.get(o, 0) <= now]
        scored = sorted((o for o in usable if o in self._scores), key=lambda o: -self._scores[o])
        unprobed = [o for o in usable if o not in self._scores]
        penalised = sorted(
            (o for o in self.order if o not in usable), key=lambda o: self._penalised[o]
        )
        return scored + unprobed + penalised

    def penalise(self, oca_id: str) -> None:
        self._penalised[oca_id] = self._clock() + self.penalty_s
        self._scores.pop(oca_id, None)

    def best(self) -> str:
        return self.rank([])[0]
