"""An emulated access network for a client: where it sits (a source address in an ISP's
prefix, so steering and the OCAs see it there), and how fast it is (a bandwidth trace and a
token bucket that holds downloads to it).

A trace is a step function of bandwidth over time, constant or read from a CSV of
`seconds,kbps` rows (the shape of recorded traces such as the FCC or 3G/HSDPA sets: the rate
holds from each row's time to the next). The trace repeats when it runs out, so a short
recording can drive a long session. Times are in playback seconds: a player running at 4x
real time asks the throttle to scale, so the network a viewer would feel stays the same.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import ipaddress
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.topology import OpenConnectConfig

MAX_TRACE_ROWS = 1_000_000
ELSEWHERE = "other"  # a client in no ISP of the topology: the IXP serves it
ELSEWHERE_ADDRESS = "127.0.0.1"


def network_names(openconnect: OpenConnectConfig) -> list[str]:
    return [isp.name for isp in openconnect.isps] + [ELSEWHERE]


def source_address(openconnect: OpenConnectConfig, network: str, rng: random.Random) -> str:
    """A client address inside `network` (an ISP of the topology, or `other`). Addresses whose
    third octet is 255 are left to OCAs, which the topology places there."""
    if network == ELSEWHERE:
        return ELSEWHERE_ADDRESS
    isp = next((i for i in openconnect.isps if i.name == network), None)
    if isp is None:
        known = ", ".join(network_names(openconnect))
        raise BadRequestError(f"no network {network!r} in the topology (known: {known})")
    prefix = ipaddress.ip_network(isp.prefixes[0])
    for _ in range(100):
        address = prefix[rng.randrange(1, max(2, prefix.num_addresses - 1))]
        if address.version != 4 or address.packed[2] != 255:
            return str(address)
    raise BadRequestError(f"{network}'s prefix {prefix} has no room for clients")


class BandwidthTrace:
    def __init__(self, steps: Iterable[tuple[float, float]]) -> None:
        """`steps`: (start second, bits per second), the first at 0, starts ascending."""
        self.starts: list[float] = []
        self.rates: list[float] = []
        for start, rate in steps:
            if rate < 0 or start < 0:
                raise BadRequestError("a bandwidth trace has no negative times or rates")
            if self.starts and start <= self.starts[-1]:
                raise BadRequestError("a bandwidth trace's times must increase")
            self.starts.append(float(start))
            self.rates.append(float(rate))
        if not self.starts:
            raise BadRequestError("a bandwidth trace needs at least one row")
        if self.starts[0] != 0:
            raise BadRequestError("a bandwidth trace starts at second 0")
        # The last rate holds as long as the step before it, so a trace repeats with that step.
        last_step = self.starts[-1] - self.starts[-2] if len(self.starts) > 1 else 1.0
        self.period_s = self.starts[-1] + last_step

    @classmethod
    def constant(cls, bits_per_s: float) -> BandwidthTrace:
        return cls([(0.0, bits_per_s)])

    @classmethod
    def from_csv(cls, path: Path) -> BandwidthTrace:
        """Rows of `seconds,kbps`; a header row and blank or `#` lines are skipped."""
        steps: list[tuple[float, float]] = []
        try:
            with path.open(newline="") as handle:
                for number, row in enumerate(csv.reader(handle), start=1):
                    if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                        continue
                    try:
                        seconds, kbps = float(row[0]), float(row[1])
                    except (ValueError, IndexError):
                        if not steps and number == 1:
                            continue  # a header
                        raise BadRequestError(
                            f"{path}:{number}: expected `seconds,kbps`, got {','.join(row)!r}"
                        ) from None
                    steps.append((seconds, kbps * 1000))
                    if len(steps) > MAX_TRACE_ROWS:
                        raise BadRequestError(f"{path}: more than {MAX_TRACE_ROWS} rows")
        except OSError as exc:
            raise BadRequestError(f"cannot read the trace {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise BadRequestError(f"{path} is not a text CSV file") from None
        return cls(steps)

    def rate_at(self, t: float) -> float:
        t %= self.period_s
        return self.rates[bisect.bisect_right(self.starts, t) - 1]

    def next_change(self, t: float) -> float:
        """The first time after `t` at which the rate may change."""
        base = t - t % self.period_s
        index = bisect.bisect_right(self.starts, t % self.period_s)
        return base + (self.starts[index] if index < len(self.starts) else self.period_s)

    def transfer_time(self, start: float, bits: float) -> float:
        """Seconds to move `bits` starting at `start` (infinite if the trace is all zeros)."""
        if max(self.rates) <= 0:
            return float("inf")
        now, left = start, bits
        while True:
            rate, change = self.rate_at(now), self.next_change(now)
            if rate > 0 and left <= rate * (change - now):
                return now + left / rate - start
            left -= rate * (change - now)
            now = change


class Throttle:
    """A token bucket whose fill rate follows a trace; `take(n)` waits until n bytes may pass.

    `speed` scales the trace to a player running faster than real time: at 4x, one real second
    is four trace seconds and carries four seconds' worth of bytes.
    """

    def __init__(
        self,
        trace: BandwidthTrace,
        *,
        speed: float = 1.0,
        burst_bytes: int = 16 * 1024,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.trace = trace
        self.speed = speed
        self.burst_bytes = burst_bytes
        self._clock = clock
        self._sleep = sleep
        self._began = clock()
        self._tokens = float(burst_bytes)
        self._updated = self._began

    def trace_time(self) -> float:
        return (self._clock() - self._began) * self.speed

    def _refill(self) -> None:
        now = self._clock()
        rate = self.trace.rate_at((now - self._began) * self.speed) / 8 * self.speed  # bytes/s
        self._tokens = min(self.burst_bytes, self._tokens + (now - self._updated) * rate)
        self._updated = now

    async def take(self, nbytes: int) -> None:
        """Wait until `nbytes` may pass. More than a burst is fine: it is paid in instalments."""
        left = float(nbytes)
        while left > 0:
            self._refill()
            if self._tokens > 0:
                used = min(self._tokens, left)
                self._tokens -= used
                left -= used
                if left <= 0:
                    return
            rate = self.trace.rate_at(self.trace_time()) / 8 * self.speed
            needed = min(left, self.burst_bytes) - self._tokens
            # Short naps, so a change of rate in the trace is noticed soon.
            await self._sleep(min(needed / rate, 0.05) if rate > 0 else 0.05)
