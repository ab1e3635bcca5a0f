"""A load run's report as one self-contained HTML page: the headline figures, viewers watching
and stream starts over time, the start-up time distribution, failures by reason and bytes per
OCA tier. Plain SVG, no scripts or outside files, so it opens anywhere (and offline)."""

from __future__ import annotations

import html
from typing import Any

WIDTH, HEIGHT, PAD = 640, 220, 40
TIER_COLOURS = {"embedded": "#2e9d5b", "ixp": "#d9a419", "origin": "#c8413b"}


def _axes(x_label: str, y_label: str, y_max: float) -> str:
    return (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 10}" y2="{HEIGHT - PAD}" '
        'stroke="#888"/>'
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<text x="{WIDTH // 2}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{html.escape(x_label)}</text>"
        f'<text x="4" y="14">{html.escape(y_label)} (max {y_max:g})</text>'
    )


def _scale(value: float, top: float, span: float) -> float:
    return span * value / top if top > 0 else 0.0


def timeline_chart(timeline: list[dict[str, Any]]) -> str:
    """Viewers watching (blue) and cumulative stream starts (green) per second."""
    if not timeline:
        return "<p>No timeline (the run was shorter than a second).</p>"
    t_max = max(s["elapsed_s"] for s in timeline) or 1.0
    y_max = float(max(max(s["watching"], s["stream_starts"]) for s in timeline) or 1)
    width, height = WIDTH - PAD - 10, HEIGHT - PAD - 10
    lines = []
    for key, colour in (("watching", "#3b73c8"), ("stream_starts", "#2e9d5b")):
        points = " ".join(
            f"{PAD + _scale(s['elapsed_s'], t_max, width):.1f},"
            f"{HEIGHT - PAD - _scale(s[key], y_max, height):.1f}"
            for s in timeline
        )
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="viewers over time">'
        + _axes(f"seconds (0-{t_max:g})", "viewers", y_max)
        + "".join(lines)
        + "</svg><p><span style='color:#3b73c8'>■</span> watching "
        "<span style='color:#2e9d5b'>■</span> stream starts (cumulative)</p>"
    )


def histogram(values: list[float], buckets: int = 20) -> str:
    if not values:
        return "<p>No stream started.</p>"
    top = max(values) or 1.0
    counts = [0] * buckets
    for value in values:
        counts[min(buckets - 1, int(value / top * buckets))] += 1
    most = max(counts)
    width, height = (WIDTH - PAD - 10) / buckets, HEIGHT - PAD - 10
    bars = "".join(
        f'<rect x="{PAD + i * width:.1f}" y="{HEIGHT - PAD - _scale(n, most, height):.1f}" '
        f'width="{width - 2:.1f}" height="{_scale(n, most, height):.1f}" fill="#3b73c8">'
        f"<title>{i * top / buckets:.0f}-{(i + 1) * top / buckets:.0f} ms: {n}</title></rect>"
        for i, n in enumerate(counts)
    )
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="start-up times">'
        + _axes(f"start-up ms (0-{top:.0f})", "plays", float(most))
        + bars
        + "</svg>"
    )


def tier_bar(bytes_by_tier: dict[str, int]) -> str:
    total = sum(bytes_by_tier.values())
    if not total:
        return "<p>No bytes streamed.</p>"
    x, parts = 0.0, []
    for tier, size in bytes_by_tier.items():
        share = size / total
        parts.append(
            f'<rect x="{x * WIDTH:.1f}" y="0" width="{share * WIDTH:.1f}" height="28" '
            f'fill="{TIER_COLOURS.get(tier, "#888")}"><title>{tier}</title></rect>'
        )
        x += share
    legend = " ".join(
        f"<span style='color:{TIER_COLOURS.get(t, '#888')}'>■</span> {html.escape(t)} "
        f"{n / 1e6:.1f} MB ({100 * n / total:.0f} %)"
        for t, n in bytes_by_tier.items()
    )
    return f'<svg viewBox="0 0 {WIDTH} 28">{"".join(parts)}</svg><p>{legend}</p>'


def render(report: dict[str, Any]) -> str:
    latency, startup = report["play_latency_ms"], report["qoe"]["startup_ms"]
    headline = [
        ("viewers started", report["started"]),
        ("succeeded", report["succeeded"]),
        ("failed", report["failed"]),
        ("stream starts per second (SPS)", report["sps"]),
        ("play latency p50 / p99 ms", f"{latency['p50']} / {latency['p99']}"),
        ("start-up p50 / p99 ms", f"{startup['p50']} / {startup['p99']}"),
        ("rebuffer ratio p99", report["qoe"]["rebuffer_ratio"]["p99"]),
        ("OCA changes", report["qoe"]["oca_changes"]),
        ("generator CPU", f"{report['cpu']['cores_used']} cores"),
    ]
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(value))}</td></tr>"
        for label, value in headline
    )
    failures = (
        "".join(
            f"<tr><th>{html.escape(reason)}</th><td>{count}</td></tr>"
            for reason, count in report["failed_by_reason"].items()
        )
        or "<tr><td>none</td></tr>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>reelcloud load run</title>
<style>
 body {{ font: 15px system-ui, sans-serif; margin: 32px auto; max-width: 700px; color: #222; }}
 svg {{ width: 100%; height: auto; font-size: 11px; background: #fafafa; }}
 th {{ text-align: left; font-weight: normal; color: #555; padding-right: 24px; }}
</style></head><body>
<h1>Load run</h1>
<table>{rows}</table>
<h2>Viewers over time</h2>{timeline_chart(report.get("timeline", []))}
<h2>Start-up time</h2>{histogram(report.get("startup_ms_all", []))}
<h2>Failures by reason</h2><table>{failures}</table>
<h2>Bytes by OCA tier</h2>{tier_bar(report["bytes_by_tier"])}
</body></html>
"""
