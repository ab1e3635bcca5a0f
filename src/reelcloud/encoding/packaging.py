"""Finishing the HLS side of the package: the dash muxer writes HLS playlists over the same
segments, but without everything players use to choose a variant. Measured from the files:
peak BANDWIDTH and AVERAGE-BANDWIDTH per variant (video plus the audio it plays with), and
FRAME-RATE; media playlists are marked VOD."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reelcloud.encoding.ffmpeg import EncodePlan

_EXTINF = re.compile(r"^#EXTINF:([\d.]+)")
_CODECS = re.compile(r'CODECS="([^"]+)"')


@dataclass(frozen=True, slots=True)
class PlaylistStats:
    average_bps: int
    peak_bps: int
    duration_s: float


def playlist_stats(out_dir: Path, playlist: str) -> PlaylistStats:
    durations: list[float] = []
    sizes: list[int] = []
    pending: float | None = None
    for line in (out_dir / playlist).read_text().splitlines():
        match = _EXTINF.match(line)
        if match:
            pending = float(match.group(1))
        elif line and not line.startswith("#") and pending is not None:
            durations.append(pending)
            sizes.append((out_dir / line).stat().st_size)
            pending = None
    total = sum(durations)
    if not durations or total <= 0:
        return PlaylistStats(0, 0, 0.0)
    return PlaylistStats(
        average_bps=round(sum(sizes) * 8 / total),
        peak_bps=round(max(s * 8 / d for s, d in zip(sizes, durations, strict=True) if d > 0)),
        duration_s=total,
    )


def finish_hls(plan: EncodePlan) -> dict[str, dict[str, object]]:
    """Rewrite master.m3u8 and the media playlists; return each rung's measured figures."""
    out = plan.out_dir
    audio_index = len(plan.rungs)
    audio = (
        playlist_stats(out, f"media_{audio_index}.m3u8")
        if plan.source.has_audio
        else PlaylistStats(0, 0, 0.0)
    )
    figures: dict[str, dict[str, object]] = {}
    lines = (out / "master.m3u8").read_text().splitlines()
    rewritten: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith("#EXT-X-STREAM-INF:") and following.startswith("media_"):
            rung = int(following.removeprefix("media_").removesuffix(".m3u8"))
            video = playlist_stats(out, following)
            attributes = [
                a for a in _split_attributes(line.partition(":")[2])
                if not a.startswith(("BANDWIDTH=", "AVERAGE-BANDWIDTH=", "FRAME-RATE="))
            ]  # fmt: skip
            peak = video.peak_bps + audio.peak_bps
            average = video.average_bps + audio.average_bps
            attributes = [
                f"BANDWIDTH={peak}",
                f"AVERAGE-BANDWIDTH={average}",
                *attributes,
                f"FRAME-RATE={plan.source.fps:.3f}",
            ]
            codecs = _CODECS.search(line)
            figures[plan.rungs[rung].name] = {
                "peak_bps": peak,
                "average_bps": average,
                "codecs": codecs.group(1) if codecs else "",
            }
            line = "#EXT-X-STREAM-INF:" + ",".join(attributes)
        rewritten.append(line)
    (out / "master.m3u8").write_text("\n".join(rewritten) + "\n")
    for media in sorted(out.glob("media_*.m3u8")):
        _mark_vod(media)
    return figures


def _mark_vod(playlist: Path) -> None:
    lines = [
        line
        for line in playlist.read_text().splitlines()
        if not line.startswith("#EXT-X-PROGRAM-DATE-TIME")  # wall-clock times of the encode
    ]
    if "#EXT-X-PLAYLIST-TYPE:VOD" not in lines:
        at = next((i + 1 for i, line in enumerate(lines) if line.startswith("#EXT-X-VERSION")), 1)
        lines.insert(at, "#EXT-X-PLAYLIST-TYPE:VOD")
    playlist.write_text("\n".join(lines) + "\n")


def _split_attributes(text: str) -> list[str]:
    """Split an attribute list on commas outside quoted strings (CODECS has commas)."""
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return parts
