"""What a source video is, read with PyAV; anything that cannot be encoded is refused here,
with a message a person can act on, before anything is uploaded or encoded."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from reelcloud.platform.errors import BadRequestError


class UnusableSourceError(BadRequestError):
    code = "unusable_source"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    path: Path
    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str
    has_audio: bool
    size_bytes: int


def probe(path: Path) -> SourceInfo:
    if not path.exists():
        raise UnusableSourceError(f"{path}: no such file")
    if not path.is_file():
        raise UnusableSourceError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise UnusableSourceError(f"{path}: the file is empty")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise UnusableSourceError(f"{path}: not a video file ({_reason(exc)})") from exc
    with container:
        if not container.streams.video:
            raise UnusableSourceError(f"{path}: has no video stream")
        video = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        duration = _duration(container, video)
        if duration <= 0:
            raise UnusableSourceError(f"{path}: has zero duration")
        width, height = video.codec_context.width, video.codec_context.height
        if not width or not height:
            raise UnusableSourceError(f"{path}: the video stream has no picture size")
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        _decode_some(container, video, path)
        return SourceInfo(
            path=path,
            duration_s=duration,
            width=width,
            height=height,
            fps=float(rate),
            video_codec=video.codec_context.name,
            has_audio=has_audio,
            size_bytes=size,
        )


def _duration(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float:
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _decode_some(
    container: av.container.InputContainer, video: av.video.stream.VideoStream, path: Path
) -> None:
    """Decode the first frames: a truncated or corrupt file often has a readable header."""
    try:
        for count, _ in enumerate(container.decode(video)):
            if count >= 2:
                return
    except av.error.FFmpegError as exc:
        raise UnusableSourceError(f"{path}: the video cannot be decoded ({_reason(exc)})") from exc
    raise UnusableSourceError(f"{path}: no video frame could be decoded")


def _reason(exc: BaseException) -> str:
    return str(exc).split(":")[-1].strip()[:120] or type(exc).__name__
