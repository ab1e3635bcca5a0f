"""QoE per OCA per minute: start-up times, rebuffering, bitrate and errors of the plays each
OCA served, from the players' heartbeats and stops.

Players report running totals (seconds played, seconds stalled, errors); a play's previous
report is kept in the title key's state, so each report adds what changed since. A play's
start-up time counts once, in the minute it was first reported. Windows are per title (the
`play_progress` key) and hold one entry per OCA; what is served merges them per OCA.
"""

from __future__ import annotations

import math
from typing import Any

from quixstreams import Application

from reelcloud.jobs import steps
from reelcloud.jobs.settings import JobsSettings

TOPIC = "play_progress"
Totals = dict[str, Any]


def _number(qoe: dict[str, Any], name: str) -> float:
    value = qoe.get(name)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def pathway_of(event: steps.Event) -> Any:
    return (event["payload"].get("qoe") or {}).get("pathway")


def change(event: steps.Event, state: steps.State) -> Totals:
    """What this report adds to its OCA's minute (stateful: the play's last totals)."""
    payload = event["payload"]
    qoe = payload.get("qoe") or {}
    played = _number(qoe, "played_s")
    stalled = _number(qoe, "rebuffer_s") or _number(qoe, "rebuffer_ms") / 1000
    errors = _number(qoe, "errors")
    key = f"play:{payload['play_id']}"
    before = state.get(key) or {"played": 0.0, "stalled": 0.0, "errors": 0.0, "started": False}
    startup = qoe.get("startup_ms")
    first_startup = isinstance(startup, int | float) and not before["started"]
    kbps = _number(qoe, "bitrate_kbps") or _number(qoe, "mean_bitrate_kbps")
    if event["type"] == "play.stopped":
        state.delete(key)  # the play is over: its totals are no longer needed
    else:
        state.set(key, {"played": played, "stalled": stalled, "errors": errors,
                        "started": before["started"] or first_startup})  # fmt: skip
    return {
        "oca": qoe["pathway"],
        "reports": 1,
        "startups_ms": [float(startup)] if first_startup else [],  # type: ignore[arg-type]
        "played_s": max(0.0, played - before["played"]),
        "rebuffer_s": max(0.0, stalled - before["stalled"]),
        "errors": max(0.0, errors - before["errors"]),
        "kbps_sum": kbps,
        "kbps_n": 1 if kbps else 0,
    }


def add(window: dict[str, Totals], report: Totals) -> dict[str, Totals]:
    """A window reducer: the report's change added to its OCA's totals."""
    totals = window.get(report["oca"])
    if totals is None:
        window[report["oca"]] = {k: v for k, v in report.items() if k != "oca"}
        return window
    totals["reports"] += report["reports"]
    totals["startups_ms"].extend(report["startups_ms"])
    for name in ("played_s", "rebuffer_s", "errors", "kbps_sum", "kbps_n"):
        totals[name] += report[name]
    return window


def first(report: Totals) -> dict[str, Totals]:
    return add({}, report)


def build(app: Application, options: JobsSettings, sink: Any, on_late: steps.OnLate) -> None:
    sdf = app.dataframe(app.topic(TOPIC, value_deserializer="json", key_deserializer="str"))
    sdf = sdf.filter(steps.of_type("play.heartbeat", "play.stopped"))
    sdf = sdf.filter(
        lambda event: isinstance((event["payload"].get("qoe") or {}).get("pathway"), str)
    )
    sdf = sdf.filter(steps.first_delivery, stateful=True)
    sdf = sdf.apply(change, stateful=True)
    sdf = (
        sdf.tumbling_window(
            duration_ms=options.minute_window_s * 1000,
            grace_ms=options.grace_s * 1000,
            name="qoe",
            on_late=on_late,
        )
        .reduce(add, first)
        .current()
    )
    sdf.sink(sink)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def merged(windows: list[dict[str, Totals]]) -> dict[str, Totals]:
    """One minute's per-title windows merged into totals per OCA."""
    found: dict[str, Totals] = {}
    for window in windows:
        for oca, totals in window.items():
            add(found, {"oca": oca, **totals, "startups_ms": list(totals["startups_ms"])})
    return found
