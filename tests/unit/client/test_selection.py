from reelcloud.client.selection import OcaSelector, Probe
from reelcloud.platform.testing import FakeClock


def test_oca_selection_measures_weights_steering_and_penalises_failures():
    clock = FakeClock()
    selector = OcaSelector(["a-1", "a-2", "ixp"], penalty_s=30, clock=clock.monotonic)
    assert selector.best() == "a-1"  # before any probe: steering's order
    ranked = selector.rank(
        [
            Probe("a-1", 5e6, 0.002),  # 0.4 s for a 2 Mb segment: far slower than a-2
            Probe("a-2", 80e6, 0.002),  # 0.027 s
            Probe("ixp", None, None),  # failed
        ]
    )
    assert ranked == ["a-2", "a-1", "ixp"]
    # Differences within the probes' noise leave steering's order alone: 3x slower, and 10x
    # slower but only by milliseconds.
    fresh = OcaSelector(["a-1", "a-2"], clock=clock.monotonic)
    assert fresh.rank([Probe("a-2", 30e6, 0.001), Probe("a-1", 10e6, 0.01)]) == ["a-1", "a-2"]
    fresh = OcaSelector(["a-1", "a-2"], clock=clock.monotonic)
    assert fresh.rank([Probe("a-2", 2e9, 0.001), Probe("a-1", 2e8, 0.01)]) == ["a-1", "a-2"]
    # A delayed OCA (200 ms to answer) goes after a prompt one.
    fresh = OcaSelector(["a-1", "a-2"], clock=clock.monotonic)
    assert fresh.rank([Probe("a-2", 2e8, 0.001), Probe("a-1", 2e8, 0.2)]) == ["a-2", "a-1"]
    selector.penalise("a-2")  # it failed mid-stream
    assert selector.rank([]) == ["a-1", "a-2", "ixp"]  # a-2 and ixp only as a last resort
    clock.advance(10)
    selector.rank([Probe("a-1", None, None)])  # now a-1 fails too
    assert selector.rank([]) == ["a-2", "ixp", "a-1"]  # the longest-penalised come back first
    clock.advance(21)  # a-2's and ixp's penalties are over: unprobed, in steering's order
    assert selector.rank([]) == ["a-2", "ixp", "a-1"]
    assert selector.best() == "a-2"
