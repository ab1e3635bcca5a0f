"""The Play API's data: the bodies of its routes, and what a play carries between steps.

The asset manifest is `platform.assets.AssetManifest`; the edge headers are
`platform.edge`'s. Dependencies' answers are their protobuf messages (`reelcloud.rpc`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reelcloud.apis.play.documents import Pathway
from reelcloud.platform.assets import AssetManifest
from reelcloud.platform.errors import BadRequestError, UnavailableError
from reelcloud.platform.signed_urls import SCOPE
from reelcloud.rpc import catalog_pb2, playback_pb2, steering_pb2

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


# ---- HTTP bodies ---------------------------------------------------------------------------


class PlayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title_id: str = Field(pattern=SCOPE.pattern)
    profile_id: str = Field(pattern=ID.pattern)
    device_id: str = Field(pattern=ID.pattern)


# Bounds of what a player may report: every heartbeat becomes an event, and an event must stay
# far below the bus's max payload (a 1 MiB QoE string once blocked a producer's whole stream).
MAX_PLAY_S = 7 * 24 * 3600  # a play longer than a week is not a play
MAX_PLAY_MS = MAX_PLAY_S * 1000
MAX_COUNT = 1_000_000_000  # dropped frames of a week at 60 fps are ~4e7
MAX_KBPS = 1_000_000  # 1 Gbit/s: beyond any rendition


def _seconds() -> Any:
    return Field(default=None, ge=0, le=MAX_PLAY_S)


def _millis() -> Any:
    return Field(default=None, ge=0, le=MAX_PLAY_MS)


def _count() -> Any:
    return Field(default=None, ge=0, le=MAX_COUNT)


class QoE(BaseModel):
    """How the play goes, as the player measures it: the union of what the Python client
    (`client.player.QoE.summary`) and the web client (`web/app/player/qoe.js`) report.

    Every field is optional, bounded, non-negative and finite (NaN and infinities refused).
    Unknown keys are refused (400), not dropped: both clients ship with the platform, so an
    unknown key is a bug or an attack, and a 400 shows it at once where dropping would lose
    data silently; the OpenAPI document says exactly what is accepted."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    startup_ms: float | None = _millis()  # None: not started yet
    rebuffers: int | None = _count()
    rebuffer_s: float | None = _seconds()
    rebuffer_ms: float | None = _millis()
    longest_stall_ms: float | None = _millis()
    rebuffer_ratio: float | None = Field(default=None, ge=0, le=1)
    mean_bitrate_kbps: float | None = Field(default=None, ge=0, le=MAX_KBPS)
    bitrate_kbps: float | None = Field(default=None, ge=0, le=MAX_KBPS)
    bitrate_switches: int | None = _count()
    height: int | None = Field(default=None, ge=0, le=10_000)  # pixels (8K is 4320)
    pathway: str | None = Field(default=None, max_length=64)  # an OCA id
    pathway_changes: int | None = _count()
    pathways_seen: str | None = Field(default=None, max_length=256)  # "oca-a-1>oca-b-1"
    oca_changes: int | None = _count()
    errors: int | None = _count()
    fatal_errors: int | None = _count()
    last_error: str | None = Field(default=None, max_length=200)
    steering_updates: int | None = _count()
    watchdog_restarts: int | None = _count()
    dropped_frames: int | None = _count()
    played_s: float | None = _seconds()

    def reported(self) -> dict[str, Any]:
        """What the player reported (fields it left out stay out of the event)."""
        return self.model_dump(exclude_none=True)


class Heartbeat(BaseModel):
    """A heartbeat's or a stop's body: where the player is and how the play goes."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    position_s: float = Field(ge=0, le=MAX_PLAY_S)
    qoe: QoE = Field(default_factory=QoE)


class OcaChoice(BaseModel):
    oca_id: str
    site: str
    kind: str  # embedded | ixp
    reason: str


class HlsLinks(BaseModel):
    url: str
    playlist: str  # the multivariant playlist itself, so a player starts without a round trip


class DashLinks(BaseModel):
    url: str


class PlayResponse(BaseModel):
    play_id: str
    title_id: str
    rungs: list[str]
    ocas: list[OcaChoice]
    hls: HlsLinks
    dash: DashLinks
    steering_url: str
    key_url: str
    heartbeat_url: str
    stop_url: str
    heartbeat_interval_s: int
    steering_fallback: bool  # steering was down: its last answer for this network
    expires_at: int


class HeartbeatResponse(BaseModel):
    recorded: bool


class StopResponse(BaseModel):
    stopped: bool


# ---- what a play works with ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """Who presses Play, as the gateway says (`platform.edge`)."""

    member_id: str
    session_id: str
    client_address: str
    network: str = ""  # a simulated network the client says it sits in ("": its own)


@dataclass
class TitleInfo:
    """A catalog answer, with what every play of it needs worked out once (it is cached
    decoded, so a play parses no manifest)."""

    title: catalog_pb2.Title
    manifest: AssetManifest
    rungs: list[playback_pb2.Rung]
    _content_ids: dict[tuple[str, ...], list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, title: catalog_pb2.Title) -> TitleInfo:
        try:
            manifest = AssetManifest.parse(title.manifest_json)
        except (ValidationError, ValueError) as exc:
            raise UnavailableError(
                f"the asset manifest of {title.id} cannot be read", code="manifest_unreadable"
            ) from exc
        if manifest.encryption is None:
            raise UnavailableError(
                f"{title.id} has no encryption key in its asset manifest",
                code="manifest_unreadable",
            )
        rungs = [playback_pb2.Rung(name=r.name, height=r.height) for r in manifest.rungs]
        return cls(title, manifest, rungs)

    @property
    def key_id(self) -> str:
        assert self.manifest.encryption is not None  # checked in of()
        return self.manifest.encryption.key_id

    def content_ids(self, rungs: list[str]) -> list[str]:
        key = tuple(rungs)
        if key not in self._content_ids:
            self._content_ids[key] = self.manifest.content_ids(rungs)
        return self._content_ids[key]


@dataclass(frozen=True, slots=True)
class Steered:
    answer: steering_pb2.SteerResponse
    fallback: bool  # steering failed: an earlier answer for this network and title


@dataclass(frozen=True, slots=True)
class PlaySession:
    """A play's context, carried in its URLs as a signed blob (`s=`), so any Play API
    instance serves any play's playlists without per-play state."""

    play_id: str
    member_id: str
    session_id: str  # the sign-in it was started under: logging out ends the play
    profile_id: str
    title_id: str
    rungs: list[str]
    pathways: list[Pathway]
    key_url: str
    steering_url: str
    expires_at: int

    def to_blob(self) -> dict[str, Any]:
        return {
            "p": self.play_id,
            "m": self.member_id,
            "i": self.session_id,
            "f": self.profile_id,
            "t": self.title_id,
            "r": self.rungs,
            "o": [[w.oca_id, w.base_url] for w in self.pathways],
            "k": self.key_url,
            "s": self.steering_url,
            "x": self.expires_at,
        }

    @classmethod
    def from_blob(cls, blob: dict[str, Any]) -> PlaySession:
        try:
            return cls(
                play_id=str(blob["p"]),
                member_id=str(blob["m"]),
                session_id=str(blob["i"]),
                profile_id=str(blob["f"]),
                title_id=str(blob["t"]),
                rungs=[str(r) for r in blob["r"]],
                pathways=[Pathway(str(o), str(b)) for o, b in blob["o"]],
                key_url=str(blob["k"]),
                steering_url=str(blob["s"]),
                expires_at=int(blob["x"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestError("the play session is malformed") from exc
