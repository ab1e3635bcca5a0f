"""A member as the public API shows it: the member, its plan, its profiles and devices. One
set of shapes for every service that answers with a member (accounts on sign-in, the sign-up
API on joining), so the gateway's merged OpenAPI document has one schema per name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Profile(_Body):
    id: str
    member_id: str
    name: str
    maturity: str  # the highest rating it may watch: G | PG | PG-13 | R


class Device(_Body):
    id: str
    member_id: str
    type: str  # browser | tv | phone
    max_height: int
    drm: str  # aes-128 | none


class PlanView(_Body):
    name: str
    max_height: int
    max_streams: int


class MemberView(_Body):
    id: str
    email: str
    name: str
    country: str
    plan: PlanView
    # pending (signing up) | active | on_hold | ended: playback plays only active
    status: str
