"""The sign-up API's bodies: the forms a visitor and a member send, and what they are shown.
Money is integer minor units with its currency; times are unix seconds (0: none)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from reelcloud.platform.members import Device, MemberView, Profile
from reelcloud.platform.pricing import PLANS
from reelcloud.platform.validation import Text

# Any short name parses; one that is not a plan is refused with its own code (unknown_plan),
# and the document lists the plans.
PlanName = Annotated[
    Text, Field(min_length=1, max_length=32, json_schema_extra={"enum": list(PLANS)})
]
Country = Annotated[Text, Field(pattern=r"^[A-Za-z]{2}$")]
Currency = Annotated[Text, Field(pattern=r"^[A-Za-z]{3}$")]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- forms ----------------------------------------------------------------------------------


class CardForm(_Body):
    # The processor checks the number (Luhn) and the expiry; here only its shape.
    number: str = Field(pattern=r"^[0-9]{12,19}$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2199)
    cvc: str = Field(pattern=r"^[0-9]{3,4}$")


class SignupForm(_Body):
    """POST /api/signup: an account, a plan and a card, in one go."""

    email: Text = Field(min_length=3, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
    password: Text = Field(min_length=8, max_length=1024)
    name: Text = Field(min_length=1, max_length=100)
    country: Country
    plan: PlanName
    card: CardForm
    # if_eligible: a trial when this email and card never had one, else the first month now;
    # required: a trial or nothing (409 trial_already_used); none: the first month now.
    trial: Literal["if_eligible", "required", "none"] = "if_eligible"
    currency: Currency | None = None  # when given, it must be the country's


class PlanChange(_Body):
    plan: PlanName


class RejoinForm(_Body):
    plan: PlanName | None = None  # another plan for the new month
    card: CardForm | None = None  # a new card first


class PaymentMethodForm(_Body):
    card: CardForm


class Empty(_Body):
    pass


# ---- answers --------------------------------------------------------------------------------


class Money(_Body):
    amount_minor: int
    currency: str
    display: str  # "15.49 USD"


class PlanOffer(_Body):
    name: str
    price: Money  # a month
    max_height: int
    max_streams: int


class Plans(_Body):
    """GET /api/signup/plans?country=GB."""

    country: str
    currency: str
    trial_days: int
    plans: list[PlanOffer]


class PaymentMethod(_Body):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class Subscription(_Body):
    id: str
    plan: str
    pending_plan: str  # a downgrade from period_end ("" none)
    # incomplete | trialing | active | past_due (still plays) | on_hold | cancelled
    status: str
    country: str
    currency: str
    trial_ends_at: int
    period_start: int
    period_end: int
    cancel_at_period_end: bool
    next_bill_at: int
    next_bill: Money | None
    payment_method: PaymentMethod | None
    balance_due: Money
    retry_at: int
    open_invoice_id: str


class Payment(_Body):
    id: str
    invoice_id: str
    status: str  # pending | succeeded | declined | requires_action | abandoned
    decline_code: str
    amount: Money
    message: str  # for people


class Invoice(_Body):
    id: str
    kind: str  # signup | renewal | proration | rejoin
    plan: str
    period_start: int
    period_end: int
    amount: Money
    status: str  # open | paid | void
    refunded: Money
    issued_at: int
    paid_at: int


class Invoices(_Body):
    invoices: list[Invoice]  # newest first


class SignupAnswer(_Body):
    """POST /api/signup: 201 active (signed in, may play), 202 requires_action (confirm the
    payment) or pending (the bank is slow: the membership starts when it answers)."""

    status: Literal["active", "requires_action", "pending"]
    trial: bool
    token: str  # also set as the session cookie
    expires_at: int
    member: MemberView
    profiles: list[Profile]
    devices: list[Device]
    subscription: Subscription
    payment: Payment | None


class Account(_Body):
    """GET /api/signup/account."""

    member: MemberView
    subscription: Subscription | None  # None: a member billing never charged (a demo one)


class AccountChange(_Body):
    """What a plan change, cancellation, rejoin, new card or confirmed payment left."""

    subscription: Subscription
    payment: Payment | None  # the payment the action made, if any
