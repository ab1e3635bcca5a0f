"""The encode: one ffmpeg run decodes the source once and encodes every rung (split + scale),
H.264 + AAC with the same fixed GOP on every rung, into CMAF fragmented-MP4 segments that a
DASH MPD and HLS playlists both describe (the dash muxer writes both over one set of files).
Progress comes from ffmpeg's `-progress` output."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reelcloud.encoding.ladder import AUDIO_KBPS, Rung
from reelcloud.encoding.priority import start_background
from reelcloud.encoding.probe import SourceInfo
from reelcloud.encoding.tools import ffmpeg_binary
from reelcloud.platform.errors import ReelcloudError

log = logging.getLogger(__name__)

SEGMENT_S = 2
Progress = Callable[[float], None]  # fraction done, 0..1


class EncodeError(ReelcloudError):
    code = "encode_failed"


@dataclass(frozen=True, slots=True)
class EncodePlan:
    source: SourceInfo
    rungs: list[Rung]
    out_dir: Path
    segment_s: int = SEGMENT_S
    preset: str = "veryfast"

    @property
    def gop_frames(self) -> int:
        """Keyframes every segment, at the same frames on every rung, so players can switch
        rungs at any segment boundary."""
        return max(1, round(self.source.fps * self.segment_s))


def command(plan: EncodePlan) -> list[str]:
    rungs = plan.rungs
    splits = "".join(f"[s{i}]" for i in range(len(rungs)))
    graph = [f"[0:v]split={len(rungs)}{splits}"]
    graph += [f"[s{i}]scale=-2:{rung.height}[v{i}]" for i, rung in enumerate(rungs)]
    argv = [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        "-progress", "pipe:1", "-nostats",
        "-i", str(plan.source.path),
        "-filter_complex", ";".join(graph),
    ]  # fmt: skip
    for i, rung in enumerate(rungs):
        argv += [
            "-map", f"[v{i}]",
            f"-c:v:{i}", "libx264",
            f"-b:v:{i}", f"{rung.video_kbps}k",
            f"-maxrate:v:{i}", f"{int(rung.video_kbps * 1.5)}k",
            f"-bufsize:v:{i}", f"{rung.video_kbps * 2}k",
        ]  # fmt: skip
    video_streams = " ".join(str(i) for i in range(len(rungs)))
    adaptation = f"id=0,streams={video_streams.replace(' ', ',')}"
    if plan.source.has_audio:
        argv += ["-map", "0:a:0", "-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "2"]
        adaptation += f" id=1,streams={len(rungs)}"
    argv += [
        "-preset", plan.preset,
        "-pix_fmt", "yuv420p",
        "-g", str(plan.gop_frames),
        "-keyint_min", str(plan.gop_frames),
        "-sc_threshold", "0",
        "-f", "dash",
        "-seg_duration", str(plan.segment_s),
        "-use_template", "1",
        "-use_timeline", "0",
        "-hls_playlist", "1",
        "-hls_master_name", "master.m3u8",
        "-adaptation_sets", adaptation,
        "-init_seg_name", "init-$RepresentationID$.m4s",
        "-media_seg_name", "seg-$RepresentationID$-$Number%05d$.m4s",
        str(plan.out_dir / "manifest.mpd"),
    ]  # fmt: skip
    return argv


async def encode(plan: EncodePlan, progress: Progress | None = None) -> None:
    """Run the encode; raises EncodeError with ffmpeg's last words if it fails."""
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    # Background priority, and it dies with us: an interrupted ingest leaves no ffmpeg.
    proc = await start_background(
        command(plan), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    stderr_task = asyncio.create_task(proc.stderr.read())
    total_us = plan.source.duration_s * 1_000_000
    async for line in proc.stdout:
        key, _, value = line.decode(errors="replace").strip().partition("=")
        if key == "out_time_us" and value.isdigit() and progress is not None and total_us:
            progress(min(1.0, int(value) / total_us))
    returncode = await proc.wait()
    errors = (await stderr_task).decode(errors="replace").strip()
    if returncode != 0:
        raise EncodeError(f"ffmpeg failed ({returncode}): {errors[-500:] or 'no message'}")
    if progress is not None:
        progress(1.0)
