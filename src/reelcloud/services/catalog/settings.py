"""The catalog's options (the topology's `options:` for catalog)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CatalogSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The origin is swept at start, then this often without an event stream (ten times less
    # often while the title.encoded consumer is up: events bring titles, the sweep is a
    # safety net).
    sweep_interval_s: float = Field(default=30.0, gt=0)
    # How often cache control's availability is read: a title is listed available within about
    # this long after cache control offers it.
    availability_poll_s: float = Field(default=1.0, gt=0)
    # A title.encoded event that fails (the origin or the database away) is delivered again
    # after this long, doubling, until it was delivered this many times; then it is given up
    # (logged and counted) and the sweep publishes the title once it can.
    event_redeliver_after_s: float = Field(default=1.0, gt=0)
    event_max_deliveries: int = Field(default=5, ge=1, le=100)
