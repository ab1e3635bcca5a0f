"""The jobs' own logic, without Kafka: dedup, counting, the trending window, QoE's running
totals and percentiles (the Quix state is a dict behind its interface)."""

from __future__ import annotations

from typing import Any

from reelcloud.jobs import popularity, qoe, steps, trending


class DictState:
    """The part of Quix's `State` the jobs use, over a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def exists(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def event(kind: str, event_id: str = "e-1", **payload: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "payload": payload}


def test_first_delivery_passes_each_event_id_once():
    state = DictState()
    assert steps.first_delivery(event("play.started", "a"), state)
    assert not steps.first_delivery(event("play.started", "a"), state)
    assert steps.first_delivery(event("play.started", "b"), state)


def test_of_type_keeps_the_named_types_and_refuses_what_is_no_envelope():
    wanted = steps.of_type("play.started")
    assert wanted(event("play.started"))
    assert not wanted(event("play.denied"))
    assert not wanted(["play.started"])  # type: ignore[arg-type]


def test_count_reducer_counts_each_item():
    counts = steps.first_count("t-1")
    for item in ("t-2", "t-1", "t-1"):
        counts = steps.count(counts, item)
    assert counts == {"t-1": 3, "t-2": 1}


def test_top_is_most_played_first_ties_by_title_and_cut_at_n():
    counts = {"b": 5, "a": 5, "c": 9, "d": 1}
    assert trending.top(counts, 3) == [("c", 9), ("a", 5), ("b", 5)]


def test_the_current_trending_window_ends_with_the_newest_events():
    hour, hop = 3_600_000, 300_000
    starts = [n * hop for n in range(30)]  # windows beginning every 5 minutes for 2.5 hours
    # the newest window (start 29 hops) holds one hop; the one 11 hops before holds the hour
    assert trending.current_window_start(starts, hour, hop) == 18 * hop
    # a young stream: its oldest window holds all it has seen
    assert trending.current_window_start(starts[:4], hour, hop) == 0
    assert trending.current_window_start([], hour, hop) is None


def test_popularity_counts_a_play_once_per_height():
    state = DictState()
    beat = event("play.heartbeat", play_id="p-1", qoe={"height": 1080})
    assert popularity.height_of(beat) == 1080
    assert popularity.first_at_this_height(beat, state)
    assert not popularity.first_at_this_height(beat, state)
    lower = event("play.heartbeat", play_id="p-1", qoe={"height": 720})
    assert popularity.first_at_this_height(lower, state)
    assert popularity.height_of(event("play.heartbeat", play_id="p", qoe={})) == 0
    assert popularity.height_of(event("play.heartbeat", play_id="p", qoe={"height": "x"})) == 0


def progress(kind: str, **qoe_fields: Any) -> dict[str, Any]:
    return event(kind, play_id="p-1", qoe={"pathway": "oca-a-1", **qoe_fields})


def test_qoe_adds_what_changed_since_the_plays_last_report_and_its_startup_once():
    state = DictState()
    first = qoe.change(progress("play.heartbeat", startup_ms=400.0, played_s=10.0,
                                rebuffer_s=0.5, errors=0, bitrate_kbps=3000.0), state)  # fmt: skip
    second = qoe.change(progress("play.heartbeat", startup_ms=400.0, played_s=20.0,
                                 rebuffer_s=2.0, errors=1), state)  # fmt: skip
    last = qoe.change(progress("play.stopped", startup_ms=400.0, played_s=25.0,
                               rebuffer_s=2.0, errors=1), state)  # fmt: skip
    assert [r["startups_ms"] for r in (first, second, last)] == [[400.0], [], []]
    assert [r["played_s"] for r in (first, second, last)] == [10.0, 10.0, 5.0]
    assert [r["rebuffer_s"] for r in (first, second, last)] == [0.5, 1.5, 0.0]
    assert [r["errors"] for r in (first, second, last)] == [0.0, 1.0, 0.0]
    assert state.data == {}  # the stop forgets the play
    window = qoe.first(first)
    for report in (second, last):
        window = qoe.add(window, report)
    totals = window["oca-a-1"]
    assert totals["reports"] == 3
    assert totals["played_s"] == 25.0
    assert totals["rebuffer_s"] == 2.0
    assert totals["kbps_n"] == 1


def test_qoe_ignores_totals_that_are_not_finite_numbers():
    state = DictState()
    report = qoe.change(progress("play.heartbeat", played_s=float("nan"), errors="many"), state)
    assert report["played_s"] == 0.0
    assert report["errors"] == 0.0


def test_merged_sums_the_titles_windows_per_oca():
    one = {"oca-a-1": {"reports": 1, "startups_ms": [100.0], "played_s": 10.0,
                       "rebuffer_s": 1.0, "errors": 0.0, "kbps_sum": 0.0, "kbps_n": 0}}  # fmt: skip
    two = {"oca-a-1": {"reports": 2, "startups_ms": [300.0], "played_s": 5.0,
                       "rebuffer_s": 0.0, "errors": 1.0, "kbps_sum": 0.0, "kbps_n": 0}}  # fmt: skip
    merged = qoe.merged([one, two])
    assert merged["oca-a-1"]["startups_ms"] == [100.0, 300.0]
    assert merged["oca-a-1"]["played_s"] == 15.0
    assert one["oca-a-1"]["startups_ms"] == [100.0]  # the inputs are left as they were


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert qoe.percentile(values, 50) == 50.0
    assert qoe.percentile(values, 95) == 95.0
    assert qoe.percentile([7.0], 95) == 7.0
    assert qoe.percentile([], 50) is None
