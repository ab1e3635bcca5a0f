"""Per-title encoding: the ladder is chosen for each title from measured quality, as Netflix's
per-title encoding does.

Every candidate rung (never above the source's height) is probe-encoded at a few bitrates on
a short excerpt, and each probe's VMAF is measured against the source at the source's size
(the wheel's ffmpeg has libvmaf). The ladder keeps the points on the upper convex hull of
quality over bitrate, one per resolution, and drops steps that add less than `min_gain_vmaf`:
an easy title (static, simple pictures) reaches high quality at low bitrates and gets a short,
cheap ladder; a hard one (motion, detail) keeps more and costlier rungs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reelcloud.encoding.ladder import Rung, ladder_for
from reelcloud.encoding.priority import start_background
from reelcloud.encoding.probe import SourceInfo
from reelcloud.encoding.tools import ffmpeg_binary
from reelcloud.platform.errors import ReelcloudError

BITRATE_FACTORS = (0.25, 0.5, 1.0, 2.0)  # of each candidate rung's standard bitrate
# Within a resolution, quality this close to its best is as good: take the cheaper point.
GOOD_ENOUGH_VMAF = 1.0
_VMAF = re.compile(r"VMAF score:\s*([\d.]+)")


class ProbeEncodeError(ReelcloudError):
    code = "probe_encode_failed"


@dataclass(frozen=True, slots=True)
class Point:
    rung: Rung  # height and bitrate tried
    vmaf: float


def convex_hull(points: list[Point]) -> list[Point]:
    """The upper-left frontier of (bitrate, VMAF): the best quality for each bitrate with
    diminishing returns (each step's quality gain per kbps no larger than the step before)."""
    ordered = sorted(points, key=lambda p: (p.rung.video_kbps, -p.vmaf))
    frontier: list[Point] = []
    for point in ordered:
        if frontier and point.vmaf <= frontier[-1].vmaf:
            continue  # costs more, looks no better
        while len(frontier) >= 2 and _slope(frontier[-2], frontier[-1]) <= _slope(
            frontier[-1], point
        ):
            frontier.pop()  # the middle point lies under the hull
        frontier.append(point)
    return frontier


def _slope(a: Point, b: Point) -> float:
    return (b.vmaf - a.vmaf) / max(1e-9, b.rung.video_kbps - a.rung.video_kbps)


def choose_ladder(points: list[Point], *, min_gain_vmaf: float = 2.0) -> list[Rung]:
    hull = convex_hull(points)
    per_height: dict[int, list[Point]] = {}
    for point in hull:
        per_height.setdefault(point.rung.height, []).append(point)
    picks = []
    for candidates in per_height.values():
        best = max(p.vmaf for p in candidates)
        picks.append(
            min(
                (p for p in candidates if p.vmaf >= best - GOOD_ENOUGH_VMAF),
                key=lambda p: p.rung.video_kbps,
            )
        )
    chosen: list[Point] = []
    for point in sorted(picks, key=lambda p: p.rung.video_kbps):
        if chosen and point.vmaf - chosen[-1].vmaf < min_gain_vmaf:
            continue
        if chosen and point.rung.height <= chosen[-1].rung.height:
            continue  # a ladder climbs in resolution as it climbs in bitrate
        chosen.append(point)
    return [p.rung for p in chosen]


async def _run(argv: list[str]) -> str:
    proc = await start_background(
        argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await proc.communicate()
    text = stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise ProbeEncodeError(f"probe encode failed: {text.strip()[-300:]}")
    return text


async def measure(
    source: SourceInfo, rung: Rung, work: Path, start_s: float, length_s: float
) -> float:
    """VMAF of `rung` on an excerpt of the source, compared at the source's size."""
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    encoded = work / f"probe-{rung.height}-{rung.video_kbps}.mp4"
    excerpt = ["-ss", f"{start_s:.3f}", "-t", f"{length_s:.3f}", "-i", str(source.path)]
    await _run([
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-y", *excerpt,
        "-vf", f"scale=-2:{rung.height}", "-an",
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{rung.video_kbps}k",
        "-maxrate", f"{int(rung.video_kbps * 1.5)}k", "-bufsize", f"{rung.video_kbps * 2}k",
        str(encoded),
    ])  # fmt: skip
    graph = (
        f"[0:v]scale={source.width}:{source.height}:flags=bicubic,setpts=PTS-STARTPTS[d];"
        "[1:v]setpts=PTS-STARTPTS[r];[d][r]libvmaf=n_threads=2"
    )
    output = await _run([
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-i", str(encoded), *excerpt,
        "-lavfi", graph, "-f", "null", "-",
    ])  # fmt: skip
    match = _VMAF.search(output)
    if match is None:
        raise ProbeEncodeError("libvmaf printed no score")
    return float(match.group(1))


async def per_title_ladder(
    source: SourceInfo,
    work: Path,
    *,
    excerpt_s: float = 4.0,
    progress: Callable[[float], None] | None = None,
) -> tuple[list[Rung], list[Point]]:
    """The title's ladder, and every measured point (for the manifest and for tuning)."""
    length = min(excerpt_s, source.duration_s)
    start = max(0.0, (source.duration_s - length) / 2)  # the middle is more typical
    trials = [
        Rung(candidate.height, max(50, round(candidate.video_kbps * factor)))
        for candidate in ladder_for(source)
        for factor in BITRATE_FACTORS
    ]
    points = []
    for done, rung in enumerate(trials, start=1):
        points.append(Point(rung, await measure(source, rung, work, start, length)))
        if progress is not None:
            progress(done / len(trials))
    return choose_ladder(points), points
