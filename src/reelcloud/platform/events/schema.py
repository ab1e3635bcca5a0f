"""Typed events: a small versioned schema per event type, in a common envelope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from reelcloud.platform.errors import BadRequestError

STREAM = "EVENTS"
SUBJECT_PREFIX = "events"
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_TYPES: dict[str, type[EventPayload]] = {}


class EventPayload(BaseModel):
    """Subclass per event type, with `event_type` ("play.started") and `event_version`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("event_type")
        if name is None:
            return
        if not _TYPE_NAME.match(name):
            raise ValueError(f"event type {name!r} must look like 'domain.action'")
        if name in _TYPES and _TYPES[name].__qualname__ != cls.__qualname__:
            raise ValueError(f"event type {name!r} is defined twice")
        _TYPES[name] = cls


def event_types() -> dict[str, type[EventPayload]]:
    return dict(_TYPES)


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str  # unique: JetStream's message id, so re-sent events are stored once
    type: str
    version: int
    time: float
    producer: str
    seq: int  # per producer, from 0: consumers can check order and gaps
    request_id: str | None
    payload: dict[str, Any]

    @property
    def subject(self) -> str:
        return f"{SUBJECT_PREFIX}.{self.type}"

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "type": self.type,
                "version": self.version,
                "time": self.time,
                "producer": self.producer,
                "seq": self.seq,
                "request_id": self.request_id,
                "payload": self.payload,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        try:
            raw = orjson.loads(data)
            return cls(**raw)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise BadRequestError(f"not an event envelope: {exc}") from exc


def decode(envelope: Envelope) -> EventPayload:
    """The typed payload of an envelope; unknown types and newer versions are errors."""
    cls = _TYPES.get(envelope.type)
    if cls is None:
        raise BadRequestError(f"unknown event type {envelope.type!r}")
    if envelope.version > cls.event_version:
        raise BadRequestError(
            f"{envelope.type} v{envelope.version} is newer than this reader's v{cls.event_version}"
        )
    try:
        return cls.model_validate(envelope.payload)
    except ValidationError as exc:
        raise BadRequestError(f"bad {envelope.type} payload: {exc.errors()[0]['msg']}") from exc


# ---- billing: a member's money, from sign-up to lapse and return ---------------------------
# Emitted by billing (services/billing) through its outbox; accounts consumes member.on_hold
# and member.reactivated to set a member's status. `at` is billing's clock (unix seconds):
# with a controllable clock in tests it is simulated time, not the envelope's `time`.


class _BillingEvent(EventPayload):
    member_id: str
    subscription_id: str
    at: float


class MemberSignedUp(_BillingEvent):
    """A sign-up finished: the member's first subscription began (its trial, or its first
    paid month). Billing says it, once, in the transaction that started the subscription."""

    event_type: ClassVar[str] = "member.signed_up"
    plan: str
    country: str
    trial: bool


class SubscriptionStarted(_BillingEvent):
    event_type: ClassVar[str] = "subscription.started"
    plan: str
    country: str
    currency: str
    trial: bool
    trial_ends_at: float | None = None
    rejoined: bool = False  # a new month after a cancellation had taken effect


class SubscriptionRenewed(_BillingEvent):
    event_type: ClassVar[str] = "subscription.renewed"
    plan: str
    invoice_id: str
    period_start: float
    period_end: float
    amount_minor: int
    currency: str


class SubscriptionChanged(_BillingEvent):
    event_type: ClassVar[str] = "subscription.changed"
    # upgraded (at once) | downgrade_scheduled | downgraded (the period it was for began) |
    # downgrade_withdrawn | cancellation_withdrawn
    change: str
    plan: str  # the plan in force after the change
    previous_plan: str
    effective_at: float


class SubscriptionCancelled(_BillingEvent):
    event_type: ClassVar[str] = "subscription.cancelled"
    ends_at: float  # the end of the paid period (or `at`, when nothing was paid)


class SubscriptionEnded(_BillingEvent):
    """A cancellation took effect: the member has no plan from now on."""

    event_type: ClassVar[str] = "subscription.ended"
    plan: str


class PaymentSucceeded(_BillingEvent):
    event_type: ClassVar[str] = "payment.succeeded"
    payment_id: str
    invoice_id: str
    kind: str  # signup | renewal | proration | rejoin
    amount_minor: int
    currency: str


class PaymentFailed(_BillingEvent):
    event_type: ClassVar[str] = "payment.failed"
    payment_id: str
    invoice_id: str
    kind: str
    amount_minor: int
    currency: str
    decline_code: str
    failures: int  # scheduled charges of this invoice that failed so far (0: the member's)
    retry_at: float | None = None


class PaymentRefunded(_BillingEvent):
    event_type: ClassVar[str] = "payment.refunded"
    refund_id: str
    invoice_id: str
    amount_minor: int
    currency: str


class MemberOnHold(_BillingEvent):
    """Every retry of a renewal failed: playback must refuse (`plan_on_hold`)."""

    event_type: ClassVar[str] = "member.on_hold"
    invoice_id: str


class MemberReactivated(_BillingEvent):
    """A member on hold paid: they may play again."""

    event_type: ClassVar[str] = "member.reactivated"
    invoice_id: str
