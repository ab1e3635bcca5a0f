"""Just enough HLS for the platform's playlists: multivariant playlists with content-steering
pathways and audio groups, media playlists with an init section, AES-128 keys and segments.
URIs are resolved against the playlist's own URL."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from reelcloud.platform.errors import BadRequestError

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTRIBUTE.findall(text)}


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int
    average_bandwidth: int
    resolution: tuple[int, int]
    codecs: str
    pathway: str
    audio_uri: str | None

    @property
    def height(self) -> int:
        return self.resolution[1]


@dataclass(frozen=True)
class Multivariant:
    variants: list[Variant]
    steering_uri: str | None
    initial_pathway: str | None

    @property
    def pathways(self) -> list[str]:
        seen: list[str] = []
        for variant in self.variants:
            if variant.pathway not in seen:
                seen.append(variant.pathway)
        return seen

    def ladder(self, pathway: str) -> list[Variant]:
        """One pathway's variants, lowest bandwidth first."""
        return sorted((v for v in self.variants if v.pathway == pathway), key=lambda v: v.bandwidth)


@dataclass(frozen=True)
class Segment:
    uri: str
    duration_s: float
    sequence: int


@dataclass
class MediaPlaylist:
    init_uri: str | None = None
    key_uri: str | None = None
    key_method: str = "NONE"
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)


def parse_multivariant(text: str, url: str) -> Multivariant:
    try:
        return _parse_multivariant(text, url)
    except (ValueError, KeyError) as exc:
        raise BadRequestError(
            f"malformed multivariant playlist: {exc}", code="bad_playlist"
        ) from None


def parse_media(text: str, url: str) -> MediaPlaylist:
    try:
        return _parse_media(text, url)
    except (ValueError, KeyError) as exc:
        raise BadRequestError(f"malformed media playlist: {exc}", code="bad_playlist") from None


def _parse_multivariant(text: str, url: str) -> Multivariant:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "#EXTM3U":
        raise BadRequestError("not an HLS playlist")
    audio: dict[str, str] = {}
    steering_uri = initial = None
    pending: dict[str, str] | None = None
    variants = []
    for line in lines[1:]:
        line = line.strip()
        if line.startswith("#EXT-X-CONTENT-STEERING:"):
            attrs = attributes(line.partition(":")[2])
            steering_uri = urljoin(url, attrs["SERVER-URI"]) if "SERVER-URI" in attrs else None
            initial = attrs.get("PATHWAY-ID")
        elif line.startswith("#EXT-X-MEDIA:"):
            attrs = attributes(line.partition(":")[2])
            if attrs.get("TYPE") == "AUDIO" and "URI" in attrs:
                audio[attrs["GROUP-ID"]] = urljoin(url, attrs["URI"])
        elif line.startswith("#EXT-X-STREAM-INF:"):
            pending = attributes(line.partition(":")[2])
        elif line and not line.startswith("#") and pending is not None:
            width, _, height = pending.get("RESOLUTION", "0x0").partition("x")
            variants.append(
                Variant(
                    uri=urljoin(url, line),
                    bandwidth=int(pending.get("BANDWIDTH", 0)),
                    average_bandwidth=int(pending.get("AVERAGE-BANDWIDTH", 0)),
                    resolution=(int(width or 0), int(height or 0)),
                    codecs=pending.get("CODECS", ""),
                    pathway=pending.get("PATHWAY-ID", "."),
                    audio_uri=audio.get(pending.get("AUDIO", "")),
                )
            )
            pending = None
    return Multivariant(variants, steering_uri, initial)


def _parse_media(text: str, url: str) -> MediaPlaylist:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "#EXTM3U":
        raise BadRequestError("not an HLS playlist")
    playlist = MediaPlaylist()
    sequence = 0
    duration: float | None = None
    for line in lines[1:]:
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-MAP:"):
            playlist.init_uri = urljoin(url, attributes(line.partition(":")[2])["URI"])
        elif line.startswith("#EXT-X-KEY:"):
            attrs = attributes(line.partition(":")[2])
            playlist.key_method = attrs.get("METHOD", "NONE")
            playlist.key_uri = urljoin(url, attrs["URI"]) if "URI" in attrs else None
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            playlist.segments.append(Segment(urljoin(url, line), duration, sequence))
            sequence += 1
            duration = None
    if not playlist.segments:
        raise ValueError("no segments")
    return playlist
