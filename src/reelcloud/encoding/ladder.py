"""The bitrate ladder: which renditions a title gets.

Candidate rungs go from 240p to 1080p and never above the source's own height (no
upscaling). Per-title bitrates (VMAF on probe encodes, keeping the convex hull) are the next
step; until then each rung gets its standard bitrate.
"""

from __future__ import annotations

from dataclasses import dataclass

from reelcloud.encoding.probe import SourceInfo


@dataclass(frozen=True, slots=True)
class Rung:
    height: int
    video_kbps: int

    @property
    def name(self) -> str:
        return f"{self.height}p"


CANDIDATES = (
    Rung(240, 400),
    Rung(360, 800),
    Rung(480, 1400),
    Rung(720, 2800),
    Rung(1080, 5000),
)
AUDIO_KBPS = 128


def ladder_for(source: SourceInfo) -> list[Rung]:
    """Every candidate at or below the source height; a source smaller than the lowest rung
    gets one rung at its own height (rounded to an even number of lines)."""
    rungs = [rung for rung in CANDIDATES if rung.height <= source.height]
    if not rungs:
        height = max(2, source.height - source.height % 2)
        rungs = [Rung(height, CANDIDATES[0].video_kbps)]
    return rungs
