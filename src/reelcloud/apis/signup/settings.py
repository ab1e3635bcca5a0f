"""The sign-up API's options (the topology's `options:` of signup-api)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SignupSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Creating a member hashes its password (argon2, tens of milliseconds, queued under load).
    accounts_timeout_ms: int = Field(default=3000, gt=0)
    # A sign-up's call to billing tokenises the card and charges it at the processor; under
    # the gateway's 5 s read timeout, so a slow bank is a 503 to retry, not a gateway timeout.
    billing_timeout_ms: int = Field(default=4000, gt=0)
    max_concurrent: int = Field(default=200, ge=1)
