"""The accounts service's data: the bodies of its HTTP routes, and members, profiles, devices
and sessions as the service passes them around."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from reelcloud.platform.countries import is_country
from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.members import Device, MemberView, PlanView, Profile
from reelcloud.platform.pricing import PLANS, PlanSpec
from reelcloud.platform.validation import Text

# Every text field is `Text`: no control characters (PostgreSQL cannot hold NUL) and no lone
# surrogates, refused here as a 400 naming the field, not by the database as a 500.


def _country(value: str) -> str:
    code = value.upper()
    if not is_country(code):
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as US or IE")
    return code


# An address: one "@", no spaces, a dot in the domain (what mail can be sent to, roughly);
# RFC 5321 bounds it to 254 characters, and its local part to 64.
Email = Annotated[
    Text, Field(min_length=3, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
]
Country = Annotated[Text, Field(pattern=r"^[A-Za-z]{2}$"), AfterValidator(_country)]
PlanName = Literal["basic", "standard", "premium"]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- request bodies -----------------------------------------------------------------------


class Login(_Body):
    # Any address a member could have signed up with (one "@"): a wrong one is a 401.
    email: Text = Field(min_length=3, max_length=254, pattern=r"^[^@]+@[^@]+$")
    password: Text = Field(min_length=1, max_length=1024)


class NewMemberForm(_Body):
    """What the sign-up API asks accounts to create (CreateMember), checked as a form."""

    email: Email
    password: Text = Field(min_length=8, max_length=1024)
    name: Text = Field(min_length=1, max_length=100)
    country: Country  # upper case once validated
    plan: PlanName = "standard"
    signup_key: Text = Field(default="", max_length=256)  # the sign-up API's idempotency key


# ---- response bodies (the member's shapes are the platform's: platform.members) ---------


class MemberDetails(_Body):
    """GET /api/accounts/me."""

    member: MemberView
    profiles: list[Profile]
    devices: list[Device]


class SignedIn(MemberDetails):
    """POST /api/accounts/login; the token is also set as a cookie."""

    token: str
    expires_at: int  # seconds since the epoch


class SignedOut(_Body):
    signed_out: bool = True


# ---- the domain ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    email: str
    name: str
    country: str
    plan_name: str
    # pending (signing up: billing has no live subscription yet) | active | on_hold (billing's
    # retries failed) | ended (a cancellation took effect). Playback plays only `active`.
    status: str

    @property
    def plan(self) -> PlanSpec:
        return PLANS[self.plan_name]

    def view(self) -> MemberView:
        plan = self.plan
        return MemberView(
            id=self.id,
            email=self.email,
            name=self.name,
            country=self.country,
            plan=PlanView(name=plan.name, max_height=plan.max_height, max_streams=plan.max_streams),
            status=self.status,
        )


@dataclass(frozen=True, slots=True)
class NewMember:
    """A member to create, with its profiles and devices, in one transaction."""

    member: Member
    profiles: list[Profile]
    devices: list[Device]
    signup_key: str = ""  # the sign-up's idempotency key ("" for demo members)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What signing in and resuming a sign-up check a member by."""

    member: Member
    password_hash: str
    signup_key: str


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    member_id: str
    expires_at: float  # seconds since the epoch
    revoked_at: float | None = None


class BusyError(UnavailableError):
    """More passwords are waiting to be hashed than the pool finishes in time: try again
    later (the edge says when, in Retry-After)."""

    code = "busy"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, math.ceil(retry_after_s))
