"""Plans and maturity ratings: what a member pays for and what a profile may watch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    max_height: int  # the best resolution it streams
    max_streams: int  # concurrent streams


PLANS = {
    "basic": Plan("basic", 480, 1),
    "standard": Plan("standard", 1080, 2),
    "premium": Plan("premium", 1080, 4),
}
