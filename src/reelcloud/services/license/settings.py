"""The license service's options (the topology's `options:` for `license`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LicenseSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The longest a play token lives (a caller may ask for less).
    token_ttl_s: int = Field(default=6 * 3600, gt=0)
