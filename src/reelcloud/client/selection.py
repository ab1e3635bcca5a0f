"""Which OCA to stream from: steering's order, corrected by what the client measures.

Before the first segment the player probes the top candidates (a small GET each, with a short
deadline). Steering's order stands (it knows routes and load) unless a probe says otherwise:
an OCA that failed is penalised for `penalty_s` and used only if nothing else is left, and one
measuring under `slow_fraction` of the best probe's throughput-over-latency goes after the
others. Small probes are noisy, so only large differences reorder.
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
        slow_fraction: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.order = list(steering_order)
        self.penalty_s = penalty_s
        self.slow_fraction = slow_fraction
        self._clock = clock
        self._penalised: dict[str, float] = {}  # oca id → until
        self._scores: dict[str, float] = {}

    @staticmethod
    def score(probe: Probe) -> float:
        if probe.throughput_bps is None:
            return 0.0
        return probe.throughput_bps / (1 + 10 * (probe.latency_s or 0.0))

    def rank(self, probes: list[Probe]) -> list[str]:
        """All candidates, best first: in steering's order, except that slow ones go after the
        others and failed or penalised ones last."""
        for probe in probes:
            if probe.throughput_bps is None:
                self.penalise(probe.oca_id)
            else:
                self._scores[probe.oca_id] = self.score(probe)
        now = self._clock()
        usable = [o for o in self.order if self._penalised.get(o, 0) <= now]
        best = max((self._scores[o] for o in usable if o in self._scores), default=0.0)
        slow = [o for o in usable if self._scores.get(o, best) < best * self.slow_fraction]
        slow.sort(key=lambda o: -self._scores[o])
        good = [o for o in usable if o not in slow]
        penalised = sorted(
            (o for o in self.order if o not in usable), key=lambda o: self._penalised[o]
        )
        return good + slow + penalised

    def reorder(self, steering_order: list[str]) -> None:
        """Steering's new order (from its manifest); measurements and penalties stand."""
        self.order = list(steering_order)

    def is_penalised(self, oca_id: str) -> bool:
        return self._penalised.get(oca_id, 0) > self._clock()

    def penalise(self, oca_id: str) -> None:
        self._penalised[oca_id] = self._clock() + self.penalty_s
        self._scores.pop(oca_id, None)

    def best(self) -> str:
        return self.rank([])[0]
