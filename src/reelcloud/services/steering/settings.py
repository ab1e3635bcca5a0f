"""Steering's options (the topology's `options:` for steering)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SteeringSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state_poll_s: float = Field(default=0.5, gt=0)  # how often cache control's state is read
    manifest_ttl_s: int = Field(default=10, ge=1)  # how often players re-fetch the manifest
