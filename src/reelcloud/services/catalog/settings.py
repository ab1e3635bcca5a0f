"""The catalog's options (the topology's `options:` for catalog)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CatalogSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The origin is swept at start, then this often without an event stream (ten times less
    # often with one: events bring titles, the sweep is a safety net).
    sweep_interval_s: float = Field(default=30.0, gt=0)
    # How often cache control's availability is read: a title is listed available within about
    # this long after cache control offers it.
    availability_poll_s: float = Field(default=1.0, gt=0)
    # After a failure of the event consumer (NATS away), wait this long before reconnecting.
    consumer_retry_s: float = Field(default=2.0, gt=0)
