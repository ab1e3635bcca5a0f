"""The playback service's options (the topology's `options:` for `playback`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PlaybackSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A play that sent no heartbeat for this long no longer holds a stream slot.
    silence_s: float = Field(default=90.0, gt=0)
