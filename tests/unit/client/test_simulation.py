"""ABR rules on simulated bandwidth traces."""

import pytest

from reelcloud.client.abr import BufferBased, ThroughputBased
from reelcloud.client.network import BandwidthTrace
from reelcloud.client.simulation import LADDER_BPS, simulate, synthetic_traces


def test_with_plenty_of_bandwidth_both_rules_reach_the_top_rung_without_stalls():
    trace = BandwidthTrace.constant(50_000_000)
    for rule in (BufferBased(), ThroughputBased()):
        session = simulate(rule, trace, segments=60)
        assert session.rebuffers == 0
        assert session.rungs[-10:] == (len(LADDER_BPS) - 1,) * 10


def test_below_the_lowest_rung_every_rule_stalls():
    trace = BandwidthTrace.constant(150_000)  # under 235 kbps
    for rule in (BufferBased(), ThroughputBased()):
        session = simulate(rule, trace, segments=30)
        assert session.rebuffer_s > 0
        assert set(session.rungs[5:]) == {0}


def test_bba_settles_below_a_step_down_and_climbs_after_a_step_up():
    traces = synthetic_traces()
    down = simulate(BufferBased(), traces["step-down"])
    up = simulate(BufferBased(), traces["step-up"])
    # Past the step (segment 60 is at least 60 s in), the rung follows the new rate.
    assert max(down.rungs[-30:]) < len(LADDER_BPS) - 1
    assert sum(LADDER_BPS[r] for r in down.rungs[-30:]) / 30 < 1_200_000
    assert sum(LADDER_BPS[r] for r in up.rungs[-30:]) / 30 > 2_000_000


@pytest.mark.parametrize("name", ["steady", "step-down", "step-up", "oscillating", "outage"])
def test_bba_rebuffers_no_more_than_the_throughput_rule(name):
    trace = synthetic_traces()[name]
    bba = simulate(BufferBased(reservoir_s=5, cushion_s=20), trace)
    throughput = simulate(ThroughputBased(), trace)
    assert bba.rebuffer_s <= throughput.rebuffer_s
    assert bba.mean_bitrate_bps >= 0.8 * throughput.mean_bitrate_bps


def test_over_every_trace_bba_rebuffers_less_at_a_similar_or_better_bitrate():
    bba_stall = throughput_stall = bba_rate = throughput_rate = 0.0
    for seed in range(3):
        for trace in synthetic_traces(seed=seed).values():
            bba = simulate(BufferBased(reservoir_s=5, cushion_s=20), trace, seed=seed)
            throughput = simulate(ThroughputBased(), trace, seed=seed)
            bba_stall += bba.rebuffer_s
            throughput_stall += throughput.rebuffer_s
            bba_rate += bba.mean_bitrate_bps
            throughput_rate += throughput.mean_bitrate_bps
    assert throughput_stall > 0  # the traces are hard enough to tell the rules apart
    assert bba_stall < 0.9 * throughput_stall  # the BBA paper: 10-20 % fewer rebuffers
    assert bba_rate >= 0.9 * throughput_rate
