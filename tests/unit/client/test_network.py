"""Bandwidth traces and the download throttle (fake clock)."""

import pytest

from reelcloud.client.network import BandwidthTrace, Throttle
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
