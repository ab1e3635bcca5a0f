"""Rolling statistics over a time window split into buckets, moved on by an injected clock."""

from __future__ import annotations

import math
from collections import Counter, deque

from reelcloud.platform.clock import Clock
from reelcloud.platform.resilience.events import CommandEvent

PERCENTILES = (0, 25, 50, 75, 90, 95, 99, 99.5, 100)


class _Buckets:
    def __init__(self, clock: Clock, window_ms: int, buckets: int) -> None:
        self._clock = clock
        self._bucket_s = window_ms / buckets / 1000
        self._size = buckets
        self._start = clock.monotonic()

    def _advance(self) -> int:
        """How many buckets to open since the last call (0: still in the current one)."""
        elapsed = int((self._clock.monotonic() - self._start) // self._bucket_s)
        if elapsed > 0:
            self._start += elapsed * self._bucket_s
        return min(elapsed, self._size)


class RollingCounter(_Buckets):
    def __init__(self, clock: Clock, window_ms: int, buckets: int) -> None:
        super().__init__(clock, window_ms, buckets)
        self._buckets: deque[Counter[CommandEvent]] = deque([Counter()], maxlen=buckets)

    def _roll(self) -> None:
        for _ in range(self._advance()):
            self._buckets.append(Counter())

    def add(self, event: CommandEvent, count: int = 1) -> None:
        self._roll()
        self._buckets[-1][event] += count

    def sum(self, event: CommandEvent) -> int:
        self._roll()
        return sum(bucket[event] for bucket in self._buckets)

    def totals(self) -> Counter[CommandEvent]:
        self._roll()
        total: Counter[CommandEvent] = Counter()
        for bucket in self._buckets:
            total.update(bucket)
        return total

    def reset(self) -> None:
        self._buckets.clear()
        self._buckets.append(Counter())


class RollingPercentile(_Buckets):
    """Latency samples per bucket (at most `bucket_size`, newest kept), as Hystrix's
    HystrixRollingPercentile; percentiles are computed when read."""

    def __init__(self, clock: Clock, window_ms: int, buckets: int, bucket_size: int) -> None:
        super().__init__(clock, window_ms, buckets)
        self._bucket_size = bucket_size
        self._buckets: deque[deque[float]] = deque([deque(maxlen=bucket_size)], maxlen=buckets)

    def add(self, value_ms: float) -> None:
        for _ in range(self._advance()):
            self._buckets.append(deque(maxlen=self._bucket_size))
        self._buckets[-1].append(value_ms)

    def snapshot(self) -> dict[str, float]:
        for _ in range(self._advance()):
            self._buckets.append(deque(maxlen=self._bucket_size))
        values = sorted(v for bucket in self._buckets for v in bucket)
        if not values:
            return {"mean": 0.0, **{_key(p): 0.0 for p in PERCENTILES}}
        result = {"mean": sum(values) / len(values)}
        for p in PERCENTILES:
            result[_key(p)] = _percentile(values, p)
        return result


def _key(p: float) -> str:
    return str(p).removesuffix(".0")


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    index = math.ceil(p / 100 * len(ordered)) - 1
    return ordered[min(len(ordered) - 1, max(0, index))]
