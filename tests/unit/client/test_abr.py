import pytest

from reelcloud.client.abr import BufferBased, Observation, ThroughputBased

LADDER = (300_000, 750_000, 1_500_000, 3_000_000)


def seen(buffer_s, current=0, download_s=None, size=None):
    return Observation(buffer_s, current, LADDER, 2.0, download_s, size)


def test_bba_rate_map_reservoir_cushion_and_hysteresis():
    bba = BufferBased(reservoir_s=5, cushion_s=20)
    bba.starting = False
    assert bba.rate_map(3, LADDER) == 300_000
    assert bba.rate_map(25, LADDER) == 3_000_000
    assert bba.rate_map(15, LADDER) == pytest.approx(1_650_000)
    assert bba.choose(seen(2, current=2)) == 0  # in the reservoir: the lowest rung
    assert bba.choose(seen(30, current=0)) == 3  # past the cushion: the highest
    assert bba.choose(seen(15, current=1)) == 2  # the map passed 1.5 Mb/s
    # Hysteresis: at 1.2 Mb/s on the map, 750k stays (no move up) and 1.5M stays (no move down
    # until the map falls below the current rate).
    assert bba.choose(seen(12, current=1)) == 1
    assert bba.choose(seen(16, current=2)) == 2
    assert bba.choose(seen(10, current=2)) == 1  # below 1.5 Mb/s: down


def test_bba2_startup_climbs_while_segments_arrive_fast_then_hands_over():
    bba = BufferBased(reservoir_s=5, cushion_s=20)
    assert bba.required_speedup(0) == 8
    assert bba.required_speedup(25) == 2
    assert bba.choose(seen(0)) == 0  # nothing measured yet
    # 10x faster than real time, but the next rung's segment (0.5 s) would eat into the
    # reservoir: stay.
    assert bba.choose(seen(2, current=0, download_s=0.2)) == 0
    assert bba.choose(seen(8, current=0, download_s=0.2)) == 1  # 10x >= 6.1x needed at 8 s
    assert bba.choose(seen(10, current=1, download_s=0.3)) == 2  # 6.7x >= 5.6x
    assert bba.starting
    # 4x < 5.6x: the rate map leads from now on, and at 10 s it asks for 975 kb/s.
    assert bba.choose(seen(10, current=2, download_s=0.5)) == 1
    assert not bba.starting


def test_bba2_startup_does_not_climb_on_a_slow_segment():
    bba = BufferBased(reservoir_s=5, cushion_s=20)
    assert bba.choose(seen(3, current=0, download_s=1.5)) == 0  # in the reservoir
    assert not bba.starting


def test_throughput_rule_uses_a_harmonic_mean_with_a_safety_margin():
    rule = ThroughputBased(safety=0.8, samples=3)
    assert rule.choose(seen(0)) == 0
    # 500 kB in 1 s = 4 Mb/s → budget 3.2 Mb/s → the top rung.
    assert rule.choose(seen(4, download_s=1.0, size=500_000)) == 3
    # One slow sample drags the harmonic mean down: 4, 4, 0.4 Mb/s → 1.0 → 0.8 Mb/s budget.
    rule.choose(seen(4, download_s=1.0, size=500_000))
    assert rule.choose(seen(4, download_s=1.0, size=50_000)) == 1
