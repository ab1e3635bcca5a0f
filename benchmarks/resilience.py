"""Command overhead: a call run as a resilience command against the same call made directly.

Both paths await the same trivial coroutine in the same event loop; the difference is what a
command adds (breaker check, bulkhead, timeout scope, rolling counters and latency samples).
Also measured: a request-cached hit, and a short-circuited call answered by its fallback.

    python benchmarks/resilience.py [--quick]

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import harness
from reelcloud.platform.resilience import CommandRunner, ResilienceConfig, request_scope


async def dependency() -> int:
    return 1


async def per_call_us(call: Callable[[], Awaitable[object]], calls: int, rounds: int) -> float:
    """Best of `rounds` runs, in microseconds per call (the least disturbed run)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            await call()
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


async def run(quick: bool) -> dict[str, float]:
    calls, rounds = (20_000, 3) if quick else (200_000, 5)
    commands = CommandRunner(ResilienceConfig())
    direct = await per_call_us(dependency, calls, rounds)
    command = await per_call_us(lambda: commands.execute("bench", dependency), calls, rounds)

    async def cached() -> object:
        return await commands.execute("bench.cached", dependency, cache_key="same")

    with request_scope():
        cache_hit = await per_call_us(cached, calls, rounds)
    commands.config.set_command("bench.open", force_open=True)
    short_circuited = await per_call_us(
        lambda: commands.execute("bench.open", dependency, fallbacks=[lambda: 0]), calls, rounds
    )
    print(f"direct call            {direct:7.2f} µs")
    print(f"as a command           {command:7.2f} µs  ({command / direct:.1f}x)")
    print(f"request-cache hit      {cache_hit:7.2f} µs")
    print(f"short-circuit+fallback {short_circuited:7.2f} µs")
    return {
        "command_overhead_us": round(command - direct, 2),
        "direct_call_us": round(direct, 2),
        "command_call_us": round(command, 2),
        "command_vs_direct": round(command / direct, 2),
        "cache_hit_us": round(cache_hit, 2),
        "short_circuit_fallback_us": round(short_circuited, 2),
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
