"""The card processor's options (the topology's `options:` for `payments`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PaymentsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # How long the timeout card's answer is held back after its charge was made: longer than
    # any caller waits, so the caller never hears and must look the key up later.
    slow_response_s: float = Field(default=30.0, ge=0)
    # Its records; relative paths are under the data directory.
    store_file: str = "payments/processor.sqlite3"
    # The most records one page of a listing holds.
    max_page: int = Field(default=1000, ge=1, le=10_000)
