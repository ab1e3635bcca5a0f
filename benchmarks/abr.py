"""ABR benchmark: the buffer-based rule (BBA, with BBA-2 start-up) against the throughput rule
(0.8 x the harmonic mean of the last 5 downloads) on the same synthetic bandwidth traces,
simulated (`reelcloud.client.simulation`): rebuffer time and count, mean bitrate, switches.

Traces (`synthetic_traces`): steady 2.5 Mbps, a step down 4 → 0.9 Mbps and a step up
0.9 → 4 Mbps at 60 s, oscillation 3.5 / 0.6 Mbps every 15 s, a 20 s outage at 30 s, and a
"cellular" 1.5 Mbps link with heavy per-second noise; all with per-second noise. Netflix's
classic 8-rung AVC ladder (235 kbps to 3 Mbps), 2 s VBR segments, a 30 s buffer, 50 ms per
request. The full run plays 300 s (150 segments) on every trace over 5 noise seeds; --quick
plays 2 seeds.

    python benchmarks/abr.py [--quick]

Last line: {"bba_rebuffer_s", "throughput_rebuffer_s", "bba_mean_kbps",
"throughput_mean_kbps", ...} summed (rebuffer) or averaged (bitrate) over all runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import main
from reelcloud.client.abr import Abr, BufferBased, ThroughputBased
from reelcloud.client.simulation import SimulatedSession, simulate, synthetic_traces

RULES: dict[str, Callable[[], Abr]] = {
    "bba": lambda: BufferBased(reservoir_s=5.0, cushion_s=20.0),
    "throughput": lambda: ThroughputBased(safety=0.8, samples=5),
}


def table(rows: list[dict[str, Any]]) -> str:
    header = f"{'trace':<12} {'rule':<11} {'rebuffers':>9} {'rebuffer_s':>10} "
    header += f"{'mean_kbps':>9} {'switches':>8} {'startup_s':>9}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['trace']:<12} {row['rule']:<11} {row['rebuffers']:>9} "
            f"{row['rebuffer_s']:>10.1f} {row['mean_kbps']:>9.0f} {row['switches']:>8} "
            f"{row['startup_s']:>9.2f}"
        )
    return "\n".join(lines)


async def run(quick: bool) -> dict[str, Any]:
    seeds = range(2 if quick else 5)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for name, trace in synthetic_traces(seed=seed).items():
            for rule, make in RULES.items():
                session: SimulatedSession = simulate(make(), trace, seed=seed)
                rows.append(
                    {
                        "trace": name,
                        "rule": rule,
                        "seed": seed,
                        "rebuffers": session.rebuffers,
                        "rebuffer_s": session.rebuffer_s,
                        "mean_kbps": session.mean_bitrate_bps / 1000,
                        "switches": session.switches,
                        "startup_s": session.startup_s,
                    }
                )
    # One line per trace and rule: the seeds summed (counts) or averaged (rates).
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        into = merged.setdefault(
            (row["trace"], row["rule"]),
            {"trace": row["trace"], "rule": row["rule"], "rebuffers": 0, "rebuffer_s": 0.0,
             "mean_kbps": 0.0, "switches": 0, "startup_s": 0.0},
        )  # fmt: skip
        into["rebuffers"] += row["rebuffers"]
        into["rebuffer_s"] += row["rebuffer_s"]
        into["switches"] += row["switches"]
        into["mean_kbps"] += row["mean_kbps"] / len(seeds)
        into["startup_s"] += row["startup_s"] / len(seeds)
    print(f"{len(seeds)} seeds x {len(synthetic_traces())} traces, 300 s each; counts summed")
    print(table(list(merged.values())))

    def total(rule: str, key: str) -> float:
        return sum(r[key] for r in rows if r["rule"] == rule)

    def mean(rule: str, key: str) -> float:
        picked = [r[key] for r in rows if r["rule"] == rule]
        return sum(picked) / len(picked)

    return {
        "bba_rebuffer_s": round(total("bba", "rebuffer_s"), 2),
        "throughput_rebuffer_s": round(total("throughput", "rebuffer_s"), 2),
        "bba_mean_kbps": round(mean("bba", "mean_kbps"), 1),
        "throughput_mean_kbps": round(mean("throughput", "mean_kbps"), 1),
        "bba_rebuffers": int(total("bba", "rebuffers")),
        "throughput_rebuffers": int(total("throughput", "rebuffers")),
        "bba_switches": int(total("bba", "switches")),
        "throughput_switches": int(total("throughput", "switches")),
    }


if __name__ == "__main__":
    main(__doc__ or "", run)
