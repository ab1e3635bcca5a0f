"""Cache control's options (the topology's `options:` for cache-control)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CacheControlSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog_refresh_s: float = Field(default=5.0, gt=0)
    # How long an OCA waits for its site's fill master, then for its upstream, before going on.
    escalation_s: float = Field(default=60.0, ge=0)
    # A title is offered this long after an OCA first holds it: longer than steering's state
    # poll (0.5 s), so steering has seen the holdings before the catalog lists the title playable.
    offer_delay_s: float = Field(default=1.0, ge=0)
    # Plays per title and rendition are read from the stream jobs' popularity this often, summed
    # over the newest `demand_days` (2: yesterday's full day and today so far).
    demand_poll_s: float = Field(default=60.0, gt=0)
    demand_days: int = Field(default=2, ge=1, le=31)
    # After a failed read, and until a first one: sooner, since a cache control that has no
    # counts plans whole titles, which embedded OCAs would start filling in place of renditions.
    demand_retry_s: float = Field(default=5.0, gt=0)
    # What an embedded OCA is filled by: whole titles ranked by counted plays, or each title's
    # watched renditions ("rendition": more bytes served from the same disk, see
    # benchmarks/offload.py). Steering offers a play only OCAs that hold every rung the player
    # may ask for, so a title held in part is not played from there yet: "title" until it can.
    placement_unit: Literal["title", "rendition"] = "title"
