"""Small synthetic videos for encoding tests, made with the wheel's ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reelcloud.encoding.tools import ffmpeg_binary


def make_video(
    path: Path, *, seconds: float = 6, size: str = "640x360", fps: int = 30, audio: bool = True,
    source: str = "testsrc2",
) -> Path:  # fmt: skip
    argv = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"{source}=size={size}:rate={fps}:duration={seconds}"]  # fmt: skip
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        argv += ["-c:a", "aac", "-shortest"]
    argv.append(str(path))
    subprocess.run(argv, check=True)
    return path


def make_audio_only(path: Path, seconds: float = 3) -> Path:
    subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    return path
