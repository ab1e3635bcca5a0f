"""Popularity for fill: plays per title and rendition per day.

A play counts once for each rendition (video height) it was seen streaming at, from the
heartbeats and the stop that report what plays now. The `play_progress` topic is keyed by
title, so each title's day is one key's window: {height: plays}.
"""

from __future__ import annotations

from typing import Any

from quixstreams import Application

from reelcloud.jobs import steps
from reelcloud.jobs.settings import JobsSettings

TOPIC = "play_progress"


def height_of(event: steps.Event) -> int:
    height = (event["payload"].get("qoe") or {}).get("height")
    return height if isinstance(height, int) and height > 0 else 0


def first_at_this_height(event: steps.Event, state: steps.State) -> bool:
    """A stateful filter: a play's first report at each height (the title's key holds them)."""
    seen = f"rung:{event['payload']['play_id']}:{height_of(event)}"
    if state.exists(seen):
        return False
    state.set(seen, 1)
    return True


def build(app: Application, options: JobsSettings, sink: Any, on_late: steps.OnLate) -> None:
    sdf = app.dataframe(app.topic(TOPIC, value_deserializer="json", key_deserializer="str"))
    sdf = sdf.filter(steps.of_type("play.heartbeat", "play.stopped"))
    sdf = sdf.filter(lambda event: height_of(event) > 0)
    sdf = sdf.filter(steps.first_delivery, stateful=True)
    sdf = sdf.filter(first_at_this_height, stateful=True)
    sdf = sdf.apply(lambda event: str(height_of(event)))
    sdf = (
        sdf.tumbling_window(
            duration_ms=options.popularity_window_s * 1000,
            grace_ms=options.grace_s * 1000,
            name="popularity",
            on_late=on_late,
        )
        .reduce(steps.count, steps.first_count)
        .current()
    )
    sdf.sink(sink)
