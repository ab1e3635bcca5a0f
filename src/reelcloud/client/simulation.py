"""A player simulated on a bandwidth trace, for comparing ABR rules without a network.

The same loop as the headless player, on virtual time: pick a rung, download the segment at
the trace's rate (plus a request latency), drain the buffer meanwhile, count a stall when the
buffer runs dry, wait while the buffer is full. Segment sizes vary around their rung's bitrate
as a VBR encode's do, the same way for every rule compared (seeded), so differences come from
the rules alone.

`synthetic_traces()` holds the shapes the BBA paper and its critics test: steady, a step down,
a step up, oscillation, and an outage.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from reelcloud.client.abr import Abr, Observation
from reelcloud.client.network import BandwidthTrace

# Netflix's classic AVC ladder (kbps), the one the BBA experiments ran on.
LADDER_BPS = tuple(k * 1000 for k in (235, 375, 560, 750, 1050, 1750, 2350, 3000))


@dataclass(frozen=True)
class SimulatedSession:
    startup_s: float
    rebuffers: int
    rebuffer_s: float
    mean_bitrate_bps: float
    switches: int
    rungs: tuple[int, ...]  # the rung of every segment


def segment_sizes(
    ladder_bps: tuple[int, ...], segments: int, segment_s: float, *, vbr: float, seed: int
) -> list[list[float]]:
    """Bits of segment i at rung r: the rung's rate times a per-segment complexity factor
    shared by all rungs (a busy scene is busy at every rung)."""
    rng = random.Random(seed)
    factors = [max(0.3, rng.gauss(1.0, vbr)) for _ in range(segments)]
    return [[rate * segment_s * f for f in factors] for rate in ladder_bps]


def simulate(
    abr: Abr,
    trace: BandwidthTrace,
    *,
    ladder_bps: tuple[int, ...] = LADDER_BPS,
    segment_s: float = 2.0,
    segments: int = 150,
    buffer_target_s: float = 30.0,
    latency_s: float = 0.05,
    vbr: float = 0.25,
    seed: int = 7,
) -> SimulatedSession:
    sizes = segment_sizes(ladder_bps, segments, segment_s, vbr=vbr, seed=seed)
    t = buffer_s = rebuffer_s = startup_s = 0.0
    rebuffers = switches = 0
    rung, rungs = 0, []
    last: tuple[float, int] | None = None
    for index in range(segments):
        if buffer_s > buffer_target_s - segment_s:  # full: wait for room for one more
            wait = buffer_s - (buffer_target_s - segment_s)
            t, buffer_s = t + wait, buffer_s - wait
        seen = Observation(
            buffer_s, rung, ladder_bps, segment_s,
            last[0] if last else None, last[1] if last else None,
        )  # fmt: skip
        chosen = abr.choose(seen)
        if index and chosen != rung:
            switches += 1
        rung = chosen
        bits = sizes[rung][index]
        took = latency_s + trace.transfer_time(t + latency_s, bits)
        if index == 0:
            startup_s = took
        elif took > buffer_s:
            rebuffers += 1
            rebuffer_s += took - buffer_s
            buffer_s = 0.0
        else:
            buffer_s -= took
        buffer_s += segment_s
        t += took
        last = (took, int(bits / 8))
        rungs.append(rung)
    mean = sum(ladder_bps[r] for r in rungs) / len(rungs) if rungs else 0.0
    return SimulatedSession(startup_s, rebuffers, rebuffer_s, mean, switches, tuple(rungs))


def noisy(
    steps: list[tuple[float, float]], *, seconds: float, jitter: float, seed: int
) -> BandwidthTrace:
    """A step trace with per-second multiplicative noise, as measured links have."""
    rng = random.Random(seed)
    rows = []
    for second in range(int(seconds)):
        base = next(rate for start, rate in reversed(steps) if start <= second)
        rows.append((float(second), base * max(0.0, rng.gauss(1.0, jitter)) if base else 0.0))
    return BandwidthTrace(rows)


def synthetic_traces(seconds: float = 400.0, seed: int = 0) -> dict[str, BandwidthTrace]:
    mbps = 1_000_000
    shapes: dict[str, list[tuple[float, float]]] = {
        "steady": [(0, 2.5 * mbps)],
        "step-down": [(0, 4.0 * mbps), (60, 0.9 * mbps)],
        "step-up": [(0, 0.9 * mbps), (60, 4.0 * mbps)],
        "oscillating": [(t, (0.6 if t % 30 else 3.5) * mbps) for t in range(0, 400, 15)],
        "outage": [(0, 3.0 * mbps), (30, 0.0), (50, 3.0 * mbps)],
        "cellular": [(0, 1.5 * mbps)],
    }
    jitter = {"cellular": 0.7}
    return {
        name: noisy(steps, seconds=seconds, jitter=jitter.get(name, 0.3), seed=seed * 100 + index)
        for index, (name, steps) in enumerate(shapes.items())
    }
