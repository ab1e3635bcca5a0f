"""Billing's data as the service passes it around: subscriptions, payment methods, invoices,
payment attempts and refunds (frozen: a change is a new value), and `Changes`, the writes
one step decides and the store applies in one transaction. Times are aware UTC datetimes;
money is integer minor units with its currency."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from reelcloud.platform.events import EventPayload
from reelcloud.services.billing.ledger import Posting


class Status(enum.StrEnum):
    INCOMPLETE = "incomplete"  # the first payment of a paid sign-up is not made
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal failed and is being retried; the member still plays
    ON_HOLD = "on_hold"  # every retry failed: playback refuses until a payment succeeds
    CANCELLED = "cancelled"


LIVE = frozenset({Status.TRIALING, Status.ACTIVE})
OWING = frozenset({Status.PAST_DUE, Status.ON_HOLD})


class InvoiceKind(enum.StrEnum):
    SIGNUP = "signup"  # the first month of a sign-up without a trial
    RENEWAL = "renewal"
    PRORATION = "proration"  # an upgrade's share of the current period
    REJOIN = "rejoin"  # a new month after a cancellation took effect


class InvoiceStatus(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class AttemptStatus(enum.StrEnum):
    PENDING = "pending"  # sent, or about to be: its outcome is not known here yet
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REQUIRES_ACTION = "requires_action"
    ABANDONED = "abandoned"  # a second step never taken, replaced by a new attempt


UNRESOLVED = frozenset({AttemptStatus.PENDING, AttemptStatus.REQUIRES_ACTION})


class Initiator(enum.StrEnum):
    SCHEDULE = "schedule"  # a renewal or a retry: off session
    MEMBER = "member"  # the member is there (sign-up, upgrade, a new card, rejoin)


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    cvc: str


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    id: str  # the processor's token
    member_id: str
    fingerprint: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    member_id: str
    email: str
    country: str
    currency: str
    plan: str
    status: Status
    # Periods are calendar months counted from the anchor (a trial is period -1), so the
    # 31st renews on the last day of shorter months and comes back to the 31st after.
    anchor_at: datetime
    period_index: int
    period_start: datetime
    period_end: datetime
    created_at: datetime
    pending_plan: str | None = None  # a downgrade, from the next period
    trial_end: datetime | None = None
    cancel_at_period_end: bool = False
    payment_method_id: str | None = None
    open_invoice_id: str | None = None  # a renewal being collected (dunning)
    failed_at: datetime | None = None  # when the open invoice's first charge failed
    failures: int = 0  # scheduled charges of the open invoice that failed
    next_action_at: datetime | None = None  # when renewals must look at it again


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    subscription_id: str
    member_id: str
    kind: InvoiceKind
    plan: str
    period_start: datetime
    period_end: datetime
    amount: int
    currency: str
    status: InvoiceStatus
    issued_at: datetime
    refunded: int = 0
    paid_at: datetime | None = None
    voided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: str
    invoice_id: str
    subscription_id: str
    member_id: str
    idempotency_key: str  # the processor's: one charge at most, ever, per key
    payment_method_id: str
    amount: int
    currency: str
    initiator: Initiator
    status: AttemptStatus
    created_at: datetime
    decline_code: str = ""
    charge_id: str = ""
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    invoice_id: str
    attempt_id: str
    charge_id: str
    member_id: str
    idempotency_key: str
    amount: int
    currency: str
    status: str  # pending | succeeded | failed
    reason: str
    created_at: datetime
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """What the processor said of a charge; `unknown` when it was never heard."""

    status: str  # succeeded | declined | requires_action | unknown
    decline_code: str = ""
    charge_id: str = ""

    @property
    def known(self) -> bool:
        return self.status != "unknown"


UNKNOWN = ChargeOutcome("unknown")


@dataclass(frozen=True, slots=True)
class Trial:
    """A free trial taken: one per email and one per card fingerprint, ever."""

    kind: str  # email | fingerprint
    value: str
    member_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RequestKey:
    member_id: str
    key: str
    operation: str
    body_hash: str
    attempt_id: str | None
    created_at: datetime


@dataclass
class Changes:
    """Everything one step writes, applied by the store in one transaction. Rows are written
    whole (inserted, or replacing the row of the same id)."""

    subscriptions: list[Subscription] = field(default_factory=list)
    payment_methods: list[PaymentMethod] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list)
    request_keys: list[RequestKey] = field(default_factory=list)

    def extend(self, other: Changes) -> None:
        self.subscriptions.extend(other.subscriptions)
        self.payment_methods.extend(other.payment_methods)
        self.trials.extend(other.trials)
        self.invoices.extend(other.invoices)
        self.attempts.extend(other.attempts)
        self.refunds.extend(other.refunds)
        self.postings.extend(other.postings)
        self.events.extend(other.events)
        self.request_keys.extend(other.request_keys)


@dataclass
class RunReport:
    """What one renewal run did."""

    renewed: int = 0
    failed: int = 0
    on_hold: int = 0
    ended: int = 0
    reconciled: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class Account:
    """A member's subscription as the sign-up API shows it."""

    subscription: Subscription
    payment_method: PaymentMethod | None
    balance_due: int  # from the ledger: the member's receivable
    next_bill_at: datetime | None
    next_bill_amount: int
    retry_at: datetime | None


@dataclass(frozen=True, slots=True)
class Answer:
    """What a request that may charge answers: the account after it, and its payment."""

    account: Account
    payment: Attempt | None = None
    trial: bool = False
