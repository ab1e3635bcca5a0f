"""Cache control's HTTP bodies: what OCAs report, what OCAs, steering, the catalog and people
read back, and the stream jobs' popularity as cache control reads it. Errors are
`platform.errors` bodies ({"error": {"code", "message"}})."""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reelcloud.platform.assets import CONTENT_ID

MAX_IDS_PER_REPORT = 1_000_000


class _Reply(BaseModel):
    model_config = ConfigDict(frozen=True)


# ---- POST /v1/reports ------------------------------------------------------------------------


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active_connections: int = Field(ge=0)
    bytes_per_s: float = Field(ge=0)
    requests_per_s: float = Field(ge=0)
    error_rate: float = Field(ge=0, le=1)
    disk_used: int = Field(ge=0)
    disk_free: int = Field(ge=0)
    draining: bool = False


class Report(BaseModel):
    """An OCA's report: the full list of content ids it holds in its first report, then only
    what was added and removed (sequence numbers tie the deltas together)."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0)
    health: Health
    prefixes: list[str] = Field(max_length=10_000)
    full: list[str] | None = Field(default=None, max_length=MAX_IDS_PER_REPORT)
    added: list[str] = Field(default=[], max_length=MAX_IDS_PER_REPORT)
    removed: list[str] = Field(default=[], max_length=MAX_IDS_PER_REPORT)
    fill: dict[str, Any] = {}

    @field_validator("prefixes")
    @classmethod
    def _networks(cls, prefixes: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(p)) for p in prefixes]

    @field_validator("full", "added", "removed")
    @classmethod
    def _content_ids(cls, ids: list[str] | None) -> list[str] | None:
        if ids is not None:
            bad = next((i for i in ids if not CONTENT_ID.match(i)), None)
            if bad is not None:
                raise ValueError(f"{bad[:80]!r} is not a content id")
        return ids


class ReportReply(_Reply):
    need_full: bool  # the deltas had a gap: send the full content list next time


# ---- GET /v1/fill-manifest -------------------------------------------------------------------


class FillFile(_Reply):
    name: str
    content_id: str
    size: int


class FillSource(_Reply):
    oca_id: str
    address: str
    port: int
    kind: str  # peer | tier


class FillTitle(_Reply):
    title_id: str
    rank: int
    new: bool  # filled at once, outside the fill window
    size: int
    files: list[FillFile]
    sources: list[FillSource]  # empty and origin false: wait for a peer or the upstream
    origin: bool


class FillManifest(_Reply):
    oca_id: str
    generated_at: float
    fill_now: int
    titles: list[FillTitle]


class FillNowReply(_Reply):
    fill_now: int


# ---- GET /v1/availability --------------------------------------------------------------------


class TitleAvailability(_Reply):
    title_id: str
    playable: bool
    since: float  # unix time since when `playable` has held (first seen, for a new title)
    ocas: list[str]  # the fresh, healthy OCAs holding every playable file, now


class AvailabilityReply(_Reply):
    generated_at: float
    titles: list[TitleAvailability]


# ---- GET /v1/ocas ----------------------------------------------------------------------------


class OcaSummary(_Reply):
    id: str
    site: str
    kind: str
    address: str
    healthy: bool
    report_age_s: float | None
    titles_held: int
    titles_playable: int
    titles_planned: int
    health: Health | None
    fill: dict[str, Any]


class DemandSummary(_Reply):
    """The plays placement follows: where they were read, when, and how many."""

    source: str  # the service that counted them: jobs
    at: float  # unix time of the answer they came in
    days: list[int]  # the days they sum (each day's window start, ms; newest first)
    titles: int
    renditions: int
    plays: int
    failing_since: float | None  # the source has not answered since: these are its last counts


class OcasReply(_Reply):
    ocas: list[OcaSummary]
    titles: list[str]  # most wanted first
    fill_now: int
    demand: DemandSummary | None  # None: no plays read yet (placed by seeded popularity)


# ---- GET /jobs/popularity (the stream jobs' answer, read by cache control) --------------------


class RenditionCount(BaseModel):
    title_id: str
    height: int = Field(ge=1)  # the rendition's video height, as players report it
    plays: int = Field(ge=0)


class PopularityCounts(BaseModel):
    """Plays per title and rendition over the newest days (`jobs.models.Popularity`; read as
    cache control needs it, ignoring what it does not)."""

    days: list[int]  # each day's window start (ms), newest first
    counts: list[RenditionCount]
