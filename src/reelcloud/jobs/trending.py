"""Trending now, per country: plays per title over a sliding hour that hops every 5 minutes.

The `plays` topic is keyed by country, so each country's windows are one key's state. A window
holds every title's count (a catalog's worth at most); the top 20 are cut when it is served.
"""

from __future__ import annotations

from typing import Any

from quixstreams import Application

from reelcloud.jobs import steps
from reelcloud.jobs.settings import JobsSettings

TOPIC = "plays"


def build(app: Application, options: JobsSettings, sink: Any, on_late: steps.OnLate) -> None:
    sdf = app.dataframe(app.topic(TOPIC, value_deserializer="json", key_deserializer="str"))
    sdf = sdf.filter(steps.of_type("play.started"))
    sdf = sdf.filter(steps.first_delivery, stateful=True)
    sdf = sdf.apply(lambda event: event["payload"]["title_id"])
    sdf = (
        sdf.hopping_window(
            duration_ms=options.trending_window_s * 1000,
            step_ms=options.trending_hop_s * 1000,
            grace_ms=options.grace_s * 1000,
            name="trending",
            on_late=on_late,
        )
        .reduce(steps.count, steps.first_count)
        .current()
    )
    sdf.sink(sink)


def top(counts: dict[str, int], n: int) -> list[tuple[str, int]]:
    """The n most played titles, most first (ties: by title id, so it is stable)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def current_window_start(starts: list[int], window_ms: int, hop_ms: int) -> int | None:
    """Of the windows a country has, the one that ends with its newest events: the newest
    window (its start) holds only the last hop, the one that began a window's length before
    its end holds the whole last hour; a stream younger than that has its oldest."""
    if not starts:
        return None
    wanted = max(starts) - (window_ms - hop_ms)
    return max(wanted, min(starts))
