"""A title's artwork: one frame grabbed from the source at encode time, scaled to a poster-row
size and stored as a small JPEG beside the title's other assets (`artwork.jpg`), so browse
pages show a picture of the title itself before anyone designs one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from reelcloud.encoding.priority import start_background
from reelcloud.encoding.probe import SourceInfo
from reelcloud.encoding.tools import ffmpeg_binary
from reelcloud.platform.errors import ReelcloudError

ARTWORK_NAME = "artwork.jpg"
ARTWORK_WIDTH = 480  # twice a phone's poster tile: sharp on dense screens, ~20 KB
# Far enough in to miss fade-ins and title cards, early enough for the shortest titles.
GRAB_FRACTION = 0.3
GRAB_AT_MOST_S = 60.0
JPEG_QUALITY = 5  # ffmpeg's mjpeg -q:v scale, 2 (best) … 31


class ArtworkError(ReelcloudError):
    code = "artwork_failed"


def grab_time_s(duration_s: float) -> float:
    return round(min(duration_s * GRAB_FRACTION, GRAB_AT_MOST_S), 3)


def artwork_size(source: SourceInfo, width: int = ARTWORK_WIDTH) -> tuple[int, int]:
    """Never larger than the source; even dimensions, the source's aspect ratio."""
    width = min(width, source.width - source.width % 2)
    height = round(source.height * width / source.width / 2) * 2
    return width, max(2, height)


def command(source: SourceInfo, out: Path) -> list[str]:
    width, height = artwork_size(source)
    return [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        # -ss before -i seeks by keyframe and decodes from there: fast on long sources.
        "-ss", str(grab_time_s(source.duration_s)),
        "-i", str(source.path),
        "-frames:v", "1",
        "-vf", f"scale={width}:{height}",
        "-q:v", str(JPEG_QUALITY),
        str(out),
    ]  # fmt: skip


async def grab_artwork(source: SourceInfo, out_dir: Path) -> dict[str, Any]:
    """Write `out_dir/artwork.jpg`; returns what the asset manifest says of it."""
    out = out_dir / ARTWORK_NAME
    proc = await start_background(
        command(source, out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await proc.communicate()
    if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        message = stderr.decode(errors="replace").strip()[-300:] or "no frame written"
        raise ArtworkError(f"could not grab the artwork frame: {message}")
    width, height = artwork_size(source)
    return {
        "name": ARTWORK_NAME,
        "width": width,
        "height": height,
        "at_s": grab_time_s(source.duration_s),
    }
