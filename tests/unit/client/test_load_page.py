"""The load report page: the run drawn as SVG, and what it shows escaped."""

from reelcloud.client.load_page import render


def report(**changes):
    base = {
        "started": 3, "succeeded": 2, "failed": 1,
        "failed_by_reason": {"play:<script>alert(1)</script>": 1},
        "stream_starts": 2, "sps": 0.5,
        "play_latency_ms": {"p50": 10.0, "p90": 12.0, "p99": 20.0},
        "qoe": {"startup_ms": {"p50": 15.0, "p90": 20.0, "p99": 30.0},
                "rebuffer_ratio": {"p50": 0.0, "p90": 0.0, "p99": 0.0},
                "mean_bitrate_kbps": {"p10": 1, "p50": 2, "p90": 3},
                "rebuffers_per_play": 0.0, "oca_changes": 1, "played_s": 40.0},
        "bytes_by_tier": {"embedded": 3_000_000, "ixp": 1_000_000, "origin": 0},
        "cpu": {"wall_s": 4.0, "cpu_s": 0.4, "cores_used": 0.1},
        "startup_ms_all": [12.0, 18.0],
        "timeline": [{"elapsed_s": 1.0, "watching": 1, "stream_starts": 1},
                     {"elapsed_s": 2.0, "watching": 2, "stream_starts": 2}],
    }  # fmt: skip
    return base | changes


def test_the_report_page_draws_the_run_and_escapes_what_it_shows():
    page = render(report())
    assert page.count("<svg") == 3  # timeline, start-up histogram, tiers
    assert "<script>" not in page  # a failure reason is text, never markup
    assert "&lt;script&gt;" in page
    assert "embedded 3.0 MB (75 %)" in page
    assert "polyline" in page


def test_an_empty_run_still_renders():
    page = render(
        report(started=0, succeeded=0, failed=0, failed_by_reason={}, timeline=[],
               startup_ms_all=[], bytes_by_tier={"embedded": 0, "ixp": 0, "origin": 0})
    )  # fmt: skip
    assert "No stream started" in page
    assert "No bytes streamed" in page
