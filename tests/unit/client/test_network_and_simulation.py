"""Bandwidth traces, the download throttle (fake clock), and ABR rules on simulated traces."""

import pytest

from reelcloud.client.abr import BufferBased, ThroughputBased
from reelcloud.client.network import BandwidthTrace, Throttle
from reelcloud.client.simulation import LADDER_BPS, simulate, synthetic_traces
from reelcloud.platform.errors import BadRequestError


def test_a_trace_is_a_repeating_step_function():
    trace = BandwidthTrace([(0, 1000), (10, 0), (15, 4000)])
    assert trace.rate_at(0) == 1000
    assert trace.rate_at(12) == 0
    assert trace.rate_at(16) == 4000
    assert trace.period_s == 20  # the last step lasts as long as the one before it
    assert trace.rate_at(21) == 1000
    assert trace.next_change(3) == 10
    assert trace.next_change(17) == 20


def test_transfer_time_integrates_over_steps_and_outages():
    trace = BandwidthTrace([(0, 1000), (10, 0), (15, 4000)])
    assert trace.transfer_time(0, 5000) == pytest.approx(5)
    # 5 s at 1000 b/s, 5 s of nothing, then 4000 b/s for the rest.
    assert trace.transfer_time(5, 5000 + 8000) == pytest.approx(5 + 5 + 2)
    assert BandwidthTrace([(0, 0)]).transfer_time(0, 1) == float("inf")


def test_traces_load_from_csv_with_a_header_and_comments(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("seconds,kbps\n# a recorded walk\n0,800\n\n5,1200\n")
    trace = BandwidthTrace.from_csv(path)
    assert trace.rate_at(1) == 800_000
    assert trace.rate_at(6) == 1_200_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one row"),
        ("seconds,kbps\n", "at least one row"),
        ("0,100\nfive,200\n", "expected `seconds,kbps`"),
        ("0,100\n0,200\n", "must increase"),
        ("0,-5\n", "no negative"),
        ("3,100\n", "starts at second 0"),
    ],
)
def test_bad_traces_are_refused_with_a_clear_message(tmp_path, text, message):
    path = tmp_path / "trace.csv"
    path.write_text(text)
    with pytest.raises(BadRequestError, match=message):
        BandwidthTrace.from_csv(path)


def test_a_missing_or_binary_trace_file_is_a_clear_error(tmp_path):
    with pytest.raises(BadRequestError, match="cannot read"):
        BandwidthTrace.from_csv(tmp_path / "nope.csv")
    binary = tmp_path / "trace.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(BadRequestError):
        BandwidthTrace.from_csv(binary)


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        assert seconds > 0
        self.now += seconds


@pytest.mark.asyncio
async def test_the_throttle_holds_downloads_to_the_trace_rate():
    time = FakeTime()
    throttle = Throttle(
        BandwidthTrace.constant(80_000), burst_bytes=1000, clock=time.clock, sleep=time.sleep
    )  # 10,000 bytes/s
    await throttle.take(1000)  # the burst
    assert time.now == 0
    await throttle.take(50_000)
    assert time.now == pytest.approx(5.0, rel=0.02)


@pytest.mark.asyncio
async def test_the_throttle_follows_rate_changes_and_scales_with_speed():
    time = FakeTime()
    trace = BandwidthTrace([(0, 80_000), (4, 160_000)])  # 10 kB/s, then 20 kB/s
    throttle = Throttle(trace, speed=2.0, burst_bytes=100, clock=time.clock, sleep=time.sleep)
    # At 2x: trace second 4 comes after 2 real seconds, carrying 2 x 10 kB/s meanwhile.
    await throttle.take(100 + 40_000)
    assert time.now == pytest.approx(2.0, abs=0.06)
    await throttle.take(40_000)  # now 2 x 20 kB/s
    assert time.now == pytest.approx(3.0, abs=0.06)


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
