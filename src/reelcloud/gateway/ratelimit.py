"""Token buckets per key (client address, member), with a bound on how many are kept."""

from __future__ import annotations

import math
from collections import OrderedDict

from reelcloud.platform.clock import Clock


class TokenBuckets:
    def __init__(
        self, rate_per_s: float, burst: int, clock: Clock, max_keys: int = 100_000
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, key: str) -> float:
        """Take one token: 0 if allowed, else the seconds to wait for the next one."""
        now = self._clock.monotonic()
        entry = self._buckets.pop(key, None)
        if entry is None:
            tokens = float(self.burst)
        else:
            tokens = entry[0] + (now - entry[1]) * self.rate_per_s
            if tokens > self.burst:
                tokens = float(self.burst)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate_per_s
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)  # the least recently seen key
        return wait


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
