"""What a request to billing may carry, checked before anything is written (a 400 with a
clear code otherwise), and how a request is told from another under one idempotency key."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from reelcloud.platform.errors import BadRequestError
from reelcloud.services.billing.models import Card

MAX_ID = 128
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
TRIAL_IF_ELIGIBLE, TRIAL_REQUIRED, NO_TRIAL = "if_eligible", "required", "none"

ALREADY_SUBSCRIBED = "this member already has a subscription (rejoin to come back)"
# What the database refused as a duplicate (by constraint), as the request error it means:
# the check that lost a race to another request, made by the database itself.
DUPLICATES = {
    "trials_pkey": ("a free trial was already used with this email or card", "trial_already_used"),
    "subscriptions_member_id_key": (ALREADY_SUBSCRIBED, "already_subscribed"),
    "attempts_one_unresolved_an_invoice": (
        "a payment is being confirmed; try again shortly", "payment_pending"
    ),
    "refunds_one_pending_an_invoice": (
        "a refund of this invoice is being made; try again shortly", "payment_pending"
    ),
}  # fmt: skip


def checked_id(value: str, what: str) -> str:
    if not value or len(value) > MAX_ID or _CONTROL.search(value):
        raise BadRequestError(f"{what} must be 1-{MAX_ID} printable characters")
    return value


def checked_key(value: str) -> str:
    if value and not _KEY.match(value):
        raise BadRequestError(
            "idempotency_key must be 1-128 of A-Z a-z 0-9 _ . : -", code="bad_idempotency_key"
        )
    return value


def checked_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email) or _CONTROL.search(email):
        raise BadRequestError("email is not an address", code="bad_email")
    return email


def checked_card(card: Card) -> Card:
    if not (card.number.isascii() and card.number.isdigit() and 12 <= len(card.number) <= 19):
        raise BadRequestError("card.number must be 12-19 digits", code="invalid_card")
    if not 1 <= card.exp_month <= 12 or not 2000 <= card.exp_year <= 2199:
        raise BadRequestError(
            "card expiry must be a month 1-12 and a 4-digit year", code="invalid_card"
        )
    if not (card.cvc.isascii() and card.cvc.isdigit() and 3 <= len(card.cvc) <= 4):
        raise BadRequestError("card.cvc must be 3 or 4 digits", code="invalid_card")
    return card


def request_hash(operation: str, **fields: Any) -> str:
    return hashlib.sha256(
        orjson.dumps({"operation": operation, **fields}, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def processor_key(member_id: str, key: str) -> str | None:
    """The processor's key for a charge a caller gave a key for (scoped to the member)."""
    if not key:
        return None
    return "req:" + hashlib.sha256(f"{member_id}\0{key}".encode()).hexdigest()[:40]


def card_fields(card: Card | None) -> dict[str, Any]:
    if card is None:
        return {}
    return {"number": card.number, "exp": [card.exp_month, card.exp_year], "cvc": card.cvc}


def checked_reason(value: str) -> str:
    if len(value) > 200 or _CONTROL.search(value):
        raise BadRequestError("reason must be at most 200 printable characters")
    return value
