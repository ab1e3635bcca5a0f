"""The Play API's options (the topology's `options:` of play-api)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DAY_S = 24 * 3600.0


class PlaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Per dependency: how long a call may take before its fallback (or a 503).
    accounts_timeout_ms: int = Field(default=250, gt=0)
    catalog_timeout_ms: int = Field(default=150, gt=0)
    playback_timeout_ms: int = Field(default=250, gt=0)
    steering_timeout_ms: int = Field(default=100, gt=0)
    license_timeout_ms: int = Field(default=200, gt=0)
    play_ttl_s: int = Field(default=6 * 3600, gt=0)

    # How long an answer is fresh (reused without asking) — near and in the replicated cache.
    # A signed-out session keeps playing for at most member_cache_s: a member (with its
    # session check) never serves past its freshness, not even as a fallback.
    title_cache_s: float = Field(default=30.0, ge=0)
    member_cache_s: float = Field(default=5.0, ge=0)
    account_cache_s: float = Field(default=60.0, ge=0)  # profiles and devices
    steering_cache_s: float = Field(default=2.0, ge=0)
    # How long past its freshness an answer still serves when its dependency fails.
    title_stale_s: float = Field(default=DAY_S, ge=0)
    account_stale_s: float = Field(default=DAY_S, ge=0)
    # Steering's signed URLs expire (url_ttl_s, hours); minutes of staleness keep a play
    # going through a steering outage without handing out URLs near their end.
    steering_stale_s: float = Field(default=300.0, ge=0)

    # false: answers are kept in this process only (the near cache), not in memcached.
    replicated_cache: bool = True
    near_cache_entries: int = Field(default=100_000, ge=1)
