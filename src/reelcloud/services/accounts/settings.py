"""The accounts service's options (the topology's `options:` for `accounts`)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field


def default_hash_workers() -> int:
    """One core fewer than this process may use, at least one: a burst of sign-ins keeps a
    core free for the event loop, PostgreSQL and the rest of the control plane."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


class AccountsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_ttl_s: int = Field(default=24 * 3600, gt=0)
    # Countries (ISO 3166-1) where the service is not offered, as Netflix is not in China,
    # North Korea, Russia or Syria: sign-ups from them are refused.
    unserved_countries: frozenset[str] = frozenset({"CN", "KP", "RU", "SY"})
    demo_members: bool = True
    hash_workers: int = Field(default_factory=default_hash_workers, ge=1, le=64)
    # A sign-in that would wait longer than this for a hashing thread is refused at once
    # (503 busy, with Retry-After): under the gateway's 5 s read timeout, so the member hears
    # "busy, retry" rather than a gateway timeout after a wait that did nothing.
    hash_max_wait_s: float = Field(default=2.0, gt=0)
    # How much lower than the event loop's the hashing threads' priority is (nice steps).
    hash_thread_nice: int = Field(default=5, ge=0, le=19)
