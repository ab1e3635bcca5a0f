"""What the jobs serve."""

from __future__ import annotations

from pydantic import BaseModel


class TrendingTitle(BaseModel):
    title_id: str
    plays: int


class Trending(BaseModel):
    """A country's most played titles over one window (ms since the epoch, event time)."""

    country: str
    window_start: int
    window_end: int
    titles: list[TrendingTitle]


class RenditionPlays(BaseModel):
    title_id: str
    height: int  # the rendition's video height, as players report it
    plays: int


class Popularity(BaseModel):
    """Plays per title and rendition over the days asked for (the newest first)."""

    days: list[int]  # each day's window start
    counts: list[RenditionPlays]


class SpsMinute(BaseModel):
    minute: int  # window start
    starts: int
    sps: float  # starts per second
    failures: dict[str, int]  # reason → requests refused


class Sps(BaseModel):
    minutes: list[SpsMinute]


class OcaQoe(BaseModel):
    minute: int  # window start (the first, over a span of minutes)
    oca: str
    reports: int
    startups: int
    played_s: float
    rebuffer_s: float
    startup_p50_ms: float | None
    startup_p95_ms: float | None
    rebuffer_ratio: float | None
    mean_bitrate_kbps: float | None
    errors: int


class Qoe(BaseModel):
    minutes: list[OcaQoe]


class JobStatus(BaseModel):
    name: str
    running: bool
    restarts: int
    last_error: str | None
    processed: int  # messages taken from its topics by this process
    late: int  # (record, window) pairs that came after the window's grace: not counted


class JobsStatus(BaseModel):
    jobs: list[JobStatus]
