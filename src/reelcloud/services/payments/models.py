"""The processor's wire format: request bodies (parsed strictly) and the records it answers
with. Amounts are integer minor units with an ISO 4217 currency."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reelcloud.platform.validation import Text

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:/-]{1,200}$")

Digits = Annotated[str, StringConstraints(pattern=r"^[0-9]+$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
ObjectId = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}_[A-Za-z0-9]{1,64}$")]
MetadataValue = Annotated[Text, StringConstraints(max_length=200)]

ChargeStatus = Literal["succeeded", "declined", "requires_action"]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class NewPaymentMethod(_Body):
    number: Digits = Field(min_length=12, max_length=19)
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2199)
    cvc: Digits = Field(min_length=3, max_length=4)


class NewCharge(_Body):
    payment_method: ObjectId
    amount: int = Field(gt=0, le=10**12)
    currency: Currency
    # Off session: the member is not there to pass a second step (a renewal).
    off_session: bool = False
    metadata: dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")], MetadataValue] = (
        Field(default_factory=dict, max_length=20)
    )


class NewRefund(_Body):
    charge: ObjectId
    amount: int = Field(gt=0, le=10**12)


class PaymentMethod(BaseModel):
    id: str
    fingerprint: str  # the same card number always has the same one
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class Charge(BaseModel):
    id: str
    idempotency_key: str
    payment_method: str
    fingerprint: str
    amount: int
    currency: str
    status: ChargeStatus
    decline_code: str = ""
    off_session: bool
    metadata: dict[str, str]
    refunded: int = 0
    created: float
    seq: int  # the order the processor made them in (for listing)


class Refund(BaseModel):
    id: str
    idempotency_key: str
    charge: str
    amount: int
    currency: str
    status: Literal["succeeded"]
    created: float
    seq: int


class ChargeList(BaseModel):
    charges: list[Charge]
    next_after: int | None  # pass as `after` for the next page


class RefundList(BaseModel):
    refunds: list[Refund]
    next_after: int | None
