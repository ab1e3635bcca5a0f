"""The asset manifest: what ingest publishes for a title and everything downstream reads.

Ingest writes `titles/<id>/manifest.json` to the origin; the catalog stores it, the Play API
writes playlists from it, cache control plans fill from its files, and steering is asked for
OCAs holding the files a play needs. One typed model, so the format is declared once.

Files are content-addressed: a file's content id is the SHA-256 of its bytes, and OCAs, fill
and steering name files by it.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

CONTENT_ID = re.compile(r"^[0-9a-f]{64}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The encrypted HLS media playlists a player asks the Play API for (`hls_<n>.m3u8`).
HLS_PLAYLIST = re.compile(r"^hls_[A-Za-z0-9_.-]{1,120}\.m3u8$")
# The key tag's URI in stored playlists; the Play API writes each play's licence URL over it.
KEY_URI_PLACEHOLDER = "reelcloud-key"
MANIFEST_NAME = "manifest.json"


def manifest_key(title_id: str) -> str:
    """Where a title's manifest lives in the assets bucket (its presence means published)."""
    return f"titles/{title_id}/{MANIFEST_NAME}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AssetFile(_Model):
    name: str = Field(pattern=FILE_NAME.pattern)
    content_id: str = Field(pattern=CONTENT_ID.pattern)
    size: int = Field(ge=0)


class Rung(_Model):
    name: str
    representation_id: str
    width: int
    height: int
    video_kbps: int
    codecs: str
    peak_bps: int
    average_bps: int
    playlist: str  # the clear media playlist (DASH and tools)
    hls_playlist: str  # the encrypted one players get


class AudioTrack(_Model):
    playlist: str
    hls_playlist: str


class Encryption(_Model):
    method: str = "AES-128"
    key_id: str
    iv: str = "sequence"  # IV = media sequence number


class Artwork(_Model):
    name: str
    width: int
    height: int
    at_s: float


class TitleMetadata(_Model):
    title: str
    year: int | None = None
    genres: list[str] = []
    countries: list[str] = []
    maturity: str = "PG"
    description: str = ""
    licenses: list[dict[str, str]] = []  # {country, start, end}
    # Expected demand before any plays are counted: fill places popular titles at the edge.
    popularity: float = 0.0


class AssetManifest(_Model):
    title_id: str
    source_id: str = ""
    metadata: TitleMetadata = TitleMetadata(title="")
    duration_s: float = 0.0
    fps: float = 30.0
    segment_s: float = 4.0
    audio_kbps: int = 0
    audio: AudioTrack | None = None
    rungs: list[Rung] = []
    hls: str = "master.m3u8"
    dash: str = "manifest.mpd"
    encryption: Encryption | None = None  # None: a title without HLS encryption (tests, tools)
    files: list[AssetFile]
    encoded_at: float = 0.0
    artwork: Artwork | None = None
    ladder_probes: list[dict[str, float]] = []

    @classmethod
    def parse(cls, raw: bytes | str) -> AssetManifest:
        """From its JSON (pydantic's ValidationError, a ValueError, when it is not one)."""
        return cls.model_validate(orjson.loads(raw))

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def rung_names(self) -> list[str]:
        return [r.name for r in self.rungs]

    def file(self, name: str) -> AssetFile | None:
        return self._files_by_name.get(name)

    @cached_property
    def _files_by_name(self) -> dict[str, AssetFile]:
        return {f.name: f for f in self.files}

    def content_ids(self, rungs: list[str]) -> list[str]:
        """Every file the HLS renditions of these rungs need, with the audio: their playlists,
        init sections and encrypted segments. Steering is asked for OCAs holding all of them."""
        chosen = [r for r in self.rungs if r.name in rungs]
        playlists = {r.hls_playlist for r in chosen}
        indexes = [r.representation_id for r in chosen]
        if self.audio is not None:
            playlists.add(self.audio.hls_playlist)
            indexes.append(self.audio.hls_playlist.removeprefix("hls_").split(".")[0])
        prefixes = tuple(p for i in indexes for p in (f"init-{i}.", f"enc-seg-{i}-"))
        return [
            f.content_id for f in self.files if f.name in playlists or f.name.startswith(prefixes)
        ]

    def playable_content_ids(self) -> frozenset[str]:
        """What an OCA must hold before the title is offered for play: every rung's files."""
        return frozenset(self.content_ids(self.rung_names()))

    def artwork_file(self) -> AssetFile | None:
        return None if self.artwork is None else self.file(self.artwork.name)


def parse_manifest(raw: bytes | str | dict[str, Any]) -> AssetManifest:
    if isinstance(raw, dict):
        return AssetManifest.model_validate(raw)
    return AssetManifest.parse(raw)
