"""Adaptive bitrate: which rung to fetch next.

`BufferBased` is BBA (Huang et al., SIGCOMM 2014), as Netflix describes it: the buffer level,
not a throughput estimate, picks the rate. Below the *reservoir* the lowest rung; above
reservoir + *cushion* the highest; in between a linear *rate map* from buffer to bitrate, with
hysteresis (move up only when the map passes the next rung's rate, down only when it falls
below the current one). Start-up follows BBA-2: while the buffer is still filling, step up one
rung when the last segment arrived fast enough — 8x faster than real time with an empty
buffer, falling linearly to 2x with a full cushion — and the next rung's segment, at the same
throughput, would still leave the buffer above the reservoir; the rate map takes over once it
asks for as much, or a segment arrives too slowly.

`ThroughputBased` is the comparison: the highest rung under a safety factor times the
harmonic mean of the last few throughput samples.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Observation:
    """What the player knows when it picks the next segment."""

    buffer_s: float
    current: int  # index of the rung of the last segment, in `ladder_bps` order
    ladder_bps: tuple[int, ...]  # ascending
    segment_s: float
    last_download_s: float | None = None  # how long the last segment took
    last_bytes: int | None = None


class Abr(Protocol):
    def choose(self, seen: Observation) -> int: ...


class BufferBased:
    def __init__(
        self,
        reservoir_s: float = 5.0,
        cushion_s: float = 20.0,
        startup_speedup: tuple[float, float] = (8.0, 2.0),  # at an empty buffer, a full cushion
    ) -> None:
        if reservoir_s < 0 or cushion_s <= 0:
            raise ValueError("reservoir must be >= 0 and cushion > 0")
        self.reservoir_s = reservoir_s
        self.cushion_s = cushion_s
        self.startup_speedup = startup_speedup
        self.starting = True

    def required_speedup(self, buffer_s: float) -> float:
        empty, full = self.startup_speedup
        filled = min(1.0, max(0.0, buffer_s / (self.reservoir_s + self.cushion_s)))
        return empty + (full - empty) * filled

    def rate_map(self, buffer_s: float, ladder_bps: tuple[int, ...]) -> float:
        low, high = ladder_bps[0], ladder_bps[-1]
        if buffer_s <= self.reservoir_s:
            return float(low)
        if buffer_s >= self.reservoir_s + self.cushion_s:
            return float(high)
        return low + (buffer_s - self.reservoir_s) / self.cushion_s * (high - low)

    def mapped(self, seen: Observation) -> int:
        """The rung the rate map asks for, with hysteresis around the current one."""
        ladder = seen.ladder_bps
        target = self.rate_map(seen.buffer_s, ladder)
        current = min(max(seen.current, 0), len(ladder) - 1)
        allowed = max([i for i, rate in enumerate(ladder) if rate <= target] or [0])
        if allowed > current and target < ladder[current + 1]:
            return current  # not past the next rung's rate yet
        return allowed

    def choose(self, seen: Observation) -> int:
        mapped = self.mapped(seen)
        if not self.starting or seen.last_download_s is None:
            return mapped
        ladder = seen.ladder_bps
        current = min(max(seen.current, 0), len(ladder) - 1)
        speedup = seen.segment_s / max(seen.last_download_s, 1e-6)
        if speedup < self.required_speedup(seen.buffer_s) or mapped > current:
            self.starting = False  # a slow segment, or the map has caught up: the map leads
            return mapped
        if current + 1 < len(ladder):
            next_download_s = seen.last_download_s * ladder[current + 1] / ladder[current]
            if seen.buffer_s - next_download_s > self.reservoir_s:
                return current + 1  # BBA-2: climb while it is easy and safe
        return current


class ThroughputBased:
    def __init__(self, safety: float = 0.8, samples: int = 5) -> None:
        self.safety = safety
        self._samples: deque[float] = deque(maxlen=samples)

    def choose(self, seen: Observation) -> int:
        if seen.last_download_s and seen.last_bytes is not None and seen.last_download_s > 0:
            self._samples.append(seen.last_bytes * 8 / seen.last_download_s)
        if not self._samples:
            return 0
        harmonic = len(self._samples) / sum(1 / s for s in self._samples if s > 0)
        budget = harmonic * self.safety
        return max([i for i, rate in enumerate(seen.ladder_bps) if rate <= budget] or [0])
