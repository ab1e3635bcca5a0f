"""Stream starts per minute: the plays that started, and the requests refused, by reason.

This is the availability signal (Netflix's SPS): a dip in starts against the usual curve, or
a rise in failures, is an outage whatever the servers' own health says. Two topics feed it;
each keeps its own windows per record key, and what is served sums them per minute.
"""

from __future__ import annotations

from typing import Any

from quixstreams import Application

from reelcloud.jobs import steps
from reelcloud.jobs.settings import JobsSettings

STARTS = "plays"
REQUESTS = "play_requests"
STARTED = "started"


def outcome(event: steps.Event) -> str:
    """ "started", or "denied:<reason>"."""
    if event["type"] == "play.started":
        return STARTED
    return f"denied:{event['payload'].get('reason') or 'unknown'}"


def build(app: Application, options: JobsSettings, sink: Any, on_late: steps.OnLate) -> None:
    for topic, types in ((STARTS, ("play.started",)), (REQUESTS, ("play.denied",))):
        sdf = app.dataframe(app.topic(topic, value_deserializer="json", key_deserializer="str"))
        sdf = sdf.filter(steps.of_type(*types))
        sdf = sdf.filter(steps.first_delivery, stateful=True)
        sdf = sdf.apply(outcome)
        sdf = (
            sdf.tumbling_window(
                duration_ms=options.minute_window_s * 1000,
                grace_ms=options.grace_s * 1000,
                name=f"sps-{topic}",
                on_late=on_late,
            )
            .reduce(steps.count, steps.first_count)
            .current()
        )
        sdf.sink(sink)
