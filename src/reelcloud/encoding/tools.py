"""The ffmpeg binary: the static build shipped in the imageio-ffmpeg wheel (no ffprobe there:
sources are probed with PyAV)."""

from __future__ import annotations

from functools import cache

from reelcloud.platform.errors import ConfigurationError


@cache
def ffmpeg_binary() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise ConfigurationError("ffmpeg not found: install the imageio-ffmpeg wheel") from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())
