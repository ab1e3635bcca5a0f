"""Cache control's options (the topology's `options:` for cache-control)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CacheControlSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog_refresh_s: float = Field(default=5.0, gt=0)
    # How long an OCA waits for its site's fill master, then for its upstream, before going on.
    escalation_s: float = Field(default=60.0, ge=0)
    # A title is offered this long after an OCA first holds it: longer than steering's state
    # poll (0.5 s), so steering has seen the holdings before the catalog lists the title playable.
    offer_delay_s: float = Field(default=1.0, ge=0)
