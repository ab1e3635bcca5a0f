"""Cache control's view of the fleet as steering reads it (`GET /v1/steering-state`): one
model for the side that writes it and the side that reads it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

STEERING_STATE_PATH = "/v1/steering-state"


class SteeringOca(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    site: str
    site_kind: str
    address: str
    port: int
    prefixes: list[str]
    # An age, not a time: steering judges freshness on its own clock.
    report_age_s: float | None
    reports_ok: bool  # its last report says it can serve: not draining, few errors
    load: int
    # Only when the holdings changed since the version the caller named:
    content_ids: list[str] | None = None
    # Titles it holds every playable file of (for the steering manifest's pathways).
    titles_held: list[str] | None = None


class SteeringState(BaseModel):
    model_config = ConfigDict(frozen=True)

    stale_after_s: float
    # Opaque: changes whenever any OCA's holdings or the titles change (and on restart).
    content_version: str
    ocas: list[SteeringOca]

    @property
    def has_content(self) -> bool:
        return any(entry.content_ids is not None for entry in self.ocas)
