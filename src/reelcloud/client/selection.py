"""Which OCA to stream from: steering's order, corrected by what the client measures.

Before the first segment the player probes the top candidates (a playlist and a ranged GET of
the first segment each, with a short deadline). Each probe becomes the time a typical segment
(`reference_bits`) would take from that OCA: its latency plus the bits at its throughput.
Steering's order stands (it knows routes and load) unless a probe says otherwise: an OCA that
failed is penalised for `penalty_s` and used only if nothing else is left, and one that would
take over `slow_factor` times as long as the best AND at least `min_gap_s` longer goes after
the others. Small probes on a busy machine differ by milliseconds of scheduling noise; only a
difference a viewer would feel reorders.
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
        slow_factor: float = 4.0,
        min_gap_s: float = 0.05,
        reference_bits: float = 2_000_000,  # a 2 s segment at 1 Mb/s
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.order = list(steering_order)
        self.penalty_s = penalty_s
        self.slow_factor = slow_factor
        self.min_gap_s = min_gap_s
        self.reference_bits = reference_bits
        self._clock = clock
        self._penalised: dict[str, float] = {}  # oca id → until
        self._seconds: dict[str, float] = {}  # oca id → a reference segment's expected time

    def expected_s(self, probe: Probe) -> float:
        if not probe.throughput_bps:
            return float("inf")
        return (probe.latency_s or 0.0) + self.reference_bits / probe.throughput_bps

    def rank(self, probes: list[Probe]) -> list[str]:
        """All candidates, best first: in steering's order, except that slow ones go after the
        others and failed or penalised ones last."""
        for probe in probes:
            if probe.throughput_bps is None:
                self.penalise(probe.oca_id)
            else:
                self._seconds[probe.oca_id] = self.expected_s(probe)
        now = self._clock()
        usable = [o for o in self.order if self._penalised.get(o, 0) <= now]
        best = min((self._seconds[o] for o in usable if o in self._seconds), default=0.0)

        def is_slow(oca_id: str) -> bool:
            seconds = self._seconds.get(oca_id, best)
            return seconds > best * self.slow_factor and seconds - best > self.min_gap_s

        slow = sorted((o for o in usable if is_slow(o)), key=lambda o: self._seconds[o])
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
        self._seconds.pop(oca_id, None)

    def best(self) -> str:
        return self.rank([])[0]
