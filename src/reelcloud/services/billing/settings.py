"""The billing service's options (the topology's `options:` for `billing`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BillingSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The card processor: outside the platform, so a URL rather than a name in the registry;
    # empty: the address the topology gives its `payments` service.
    payments_url: str = ""
    # A charge that has not answered in this long has an unknown outcome (reconciled later).
    payments_timeout_ms: int = Field(default=2000, gt=0)
    payments_max_concurrent: int = Field(default=64, ge=1)
    # Tokenising a card (no money moves; the member waits for the answer).
    payments_tokenize_timeout_ms: int = Field(default=5000, gt=0)
    trial_days: int = Field(default=30, ge=0, le=365)
    # Retries of a failed renewal, in days after the first failure; then the member is on hold.
    retry_days: tuple[int, ...] = (1, 3, 7)
    # How often the schedule runs (0: never by itself; RunRenewals only).
    renewal_interval_s: float = Field(default=60.0, ge=0)
    renewal_batch: int = Field(default=500, ge=1, le=10_000)
    charge_concurrency: int = Field(default=32, ge=1, le=1024)
    # A charge waiting this long for the member's second step (3-D Secure) is given up.
    second_step_expiry_s: float = Field(default=86_400, gt=0)
    # Tests and simulations: RunRenewals may move billing's clock forward to its `until`.
    controllable_clock: bool = False
    # How often the outbox's events are sent to the event stream.
    outbox_interval_s: float = Field(default=0.5, gt=0)
