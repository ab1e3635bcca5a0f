from reelcloud.platform.resilience import CommandEvent
from reelcloud.platform.resilience.rolling import RollingCounter, RollingPercentile


def test_rolling_counter_forgets_old_buckets(clock):
    counter = RollingCounter(clock, 10_000, 10)
    counter.add(CommandEvent.FAILURE, 5)
    clock.advance(5)
    counter.add(CommandEvent.FAILURE, 2)
    assert counter.sum(CommandEvent.FAILURE) == 7
    clock.advance(5.5)
    assert counter.sum(CommandEvent.FAILURE) == 2
    clock.advance(60)
    assert counter.sum(CommandEvent.FAILURE) == 0


def test_rolling_percentiles(clock):
    latencies = RollingPercentile(clock, 60_000, 6, 100)
    for value in range(1, 101):
        latencies.add(float(value))
    snapshot = latencies.snapshot()
    assert snapshot["50"] == 50
    assert snapshot["99"] == 99
    assert snapshot["100"] == 100
    assert snapshot["mean"] == 50.5
    clock.advance(61)
    assert latencies.snapshot()["99"] == 0
