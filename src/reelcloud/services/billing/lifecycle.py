"""A subscription's rules as pure functions: each takes the state it needs and a time, and
returns the `Changes` to write (rows, ledger postings, events). No I/O and no clock: the
service loads, calls one of these, and hands the changes to the store in one transaction.

    incomplete ──paid──► active ◄──────────── trialing (free trial; cancel ends it unpaid)
                          │  ▲  period end: invoice, charge
            declined      ▼  │ paid
                        past_due ──retries 1, 3, 7 days after the first failure──┐
                          │                                                      │ declined
                          │ cancel                                               ▼
                          ▼                                  paid (a new period) on_hold
                       cancelled ◄── cancel at period end ─── active ◄──────────┘
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from reelcloud.platform import pricing
from reelcloud.platform.events.schema import (
    MemberOnHold,
    MemberReactivated,
    MemberSignedUp,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionCancelled,
    SubscriptionChanged,
    SubscriptionEnded,
    SubscriptionRenewed,
    SubscriptionStarted,
)
from reelcloud.services.billing import ledger
from reelcloud.services.billing.models import (
    Attempt,
    AttemptStatus,
    Changes,
    ChargeOutcome,
    Initiator,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Status,
    Subscription,
)
from reelcloud.services.billing.periods import period, prorated, retry_at


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def ts(value: datetime) -> float:
    return value.timestamp()


@dataclass(frozen=True, slots=True)
class Rules:
    trial_days: int = 30
    retry_days: tuple[int, ...] = (1, 3, 7)

    def price(self, sub: Subscription, plan: str) -> int:
        return pricing.price(sub.country, plan).amount_minor


def renewal_invoice_id(sub: Subscription, start: datetime) -> str:
    """One renewal invoice per subscription and period: its id says which."""
    return f"in_{sub.id.removeprefix('sub_')}_{start:%Y%m%dT%H%M%S}"


def attempt_key(invoice: Invoice, number: int) -> str:
    """The processor's idempotency key of a charge nobody gave a key for: the invoice
    (subscription and period) and the attempt's number."""
    return f"{invoice.id}/{number}"


# ---- starting -------------------------------------------------------------------------------


def trial(sub: Subscription, at: datetime, rules: Rules) -> Changes:
    """A new subscription in its free trial; the first charge comes when it ends."""
    end = at + timedelta(days=rules.trial_days)
    started = replace(
        sub,
        status=Status.TRIALING,
        trial_end=end,
        anchor_at=end,
        period_index=-1,
        period_start=at,
        period_end=end,
        next_action_at=end,
    )
    changes = Changes(subscriptions=[started])
    changes.events += [
        SubscriptionStarted(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at), plan=sub.plan,
            country=sub.country, currency=sub.currency, trial=True, trial_ends_at=ts(end),
        ),
        MemberSignedUp(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at), plan=sub.plan,
            country=sub.country, trial=True,
        ),
    ]  # fmt: skip
    return changes


def invoice(
    sub: Subscription, kind: InvoiceKind, plan: str, amount: int, start: datetime,
    end: datetime, at: datetime, invoice_id: str | None = None,
) -> tuple[Invoice, Changes]:  # fmt: skip
    """A new open invoice, and its posting: the member owes it from now."""
    issued = Invoice(
        id=invoice_id or new_id("in"),
        subscription_id=sub.id,
        member_id=sub.member_id,
        kind=kind,
        plan=plan,
        period_start=start,
        period_end=end,
        amount=amount,
        currency=sub.currency,
        status=InvoiceStatus.OPEN,
        issued_at=at,
    )
    changes = Changes(invoices=[issued])
    changes.postings.append(ledger.issue(issued.id, sub.member_id, amount, sub.currency, at))
    return issued, changes


def attempt(
    inv: Invoice, sub: Subscription, number: int, initiator: Initiator, at: datetime,
    key: str | None = None,
) -> Attempt:  # fmt: skip
    assert sub.payment_method_id is not None, "a charge needs a payment method"
    return Attempt(
        id=new_id("pay"),
        invoice_id=inv.id,
        subscription_id=sub.id,
        member_id=sub.member_id,
        idempotency_key=key or attempt_key(inv, number),
        payment_method_id=sub.payment_method_id,
        amount=inv.amount,
        currency=inv.currency,
        initiator=initiator,
        status=AttemptStatus.PENDING,
        created_at=at,
    )


def abandon(unresolved: Attempt | None, at: datetime) -> list[Attempt]:
    """A second step never taken gives way to a new attempt (billing alone confirms charges
    at the processor, so an abandoned one can never succeed)."""
    if unresolved is None or unresolved.status is not AttemptStatus.REQUIRES_ACTION:
        return []
    return [replace(unresolved, status=AttemptStatus.ABANDONED, decided_at=at)]


def give_up(
    sub: Subscription, inv: Invoice, waiting: Attempt, at: datetime, rules: Rules
) -> Changes:
    """A charge waiting for a second step the member never took: abandoned. A sign-up,
    rejoin or upgrade it was for did not happen (its invoice is voided: no debt); a renewal's
    retries, suspended while the member tried, go on."""
    changes = Changes(attempts=abandon(waiting, at))
    if not changes.attempts:
        return changes
    if inv.kind is not InvoiceKind.RENEWAL and inv.status is InvoiceStatus.OPEN:
        changes.invoices.append(replace(inv, status=InvoiceStatus.VOID, voided_at=at))
        changes.postings.append(ledger.void(inv.id, sub.member_id, inv.amount, inv.currency, at))
    elif sub.status is Status.PAST_DUE and sub.next_action_at is None:
        changes.subscriptions.append(replace(sub, next_action_at=_resumed(sub, at, rules)))
    return changes


# ---- what the schedule does -----------------------------------------------------------------


def due(
    sub: Subscription, at: datetime, rules: Rules, open_invoice: Invoice | None,
    attempts_made: int, unresolved: Attempt | None,
) -> tuple[Changes, Attempt | None]:  # fmt: skip
    """What is due at `at` (the subscription's next_action_at): the end of a cancelled
    period, a renewal, or a retry of the open invoice; and the attempt to charge, if any.
    `attempts_made`: attempts on the open invoice so far; `unresolved`: one of them whose
    outcome is not decided."""
    if sub.status in (Status.TRIALING, Status.ACTIVE) and at >= sub.period_end:
        if sub.cancel_at_period_end:
            return end(sub, at), None
        return renew(sub, at, rules)
    idle = Changes(subscriptions=[replace(sub, next_action_at=None)])
    if sub.status is not Status.PAST_DUE or open_invoice is None:
        return idle, None
    if unresolved is not None and unresolved.status is AttemptStatus.PENDING:
        return idle, None  # its outcome, once reconciled, decides what comes next
    retry = attempt(open_invoice, sub, attempts_made + 1, Initiator.SCHEDULE, at)
    idle.attempts.extend(abandon(unresolved, at))  # written first: one unresolved at a time
    idle.attempts.append(retry)
    return idle, retry


def renew(sub: Subscription, at: datetime, rules: Rules) -> tuple[Changes, Attempt]:
    """The next period: its invoice (at the plan a downgrade scheduled, if any) and its first
    charge. The member keeps playing while it is collected."""
    index = sub.period_index + 1
    start, end_ = period(sub.anchor_at, index)
    plan = sub.pending_plan or sub.plan
    inv, changes = invoice(
        sub, InvoiceKind.RENEWAL, plan, rules.price(sub, plan), start, end_, at,
        invoice_id=renewal_invoice_id(sub, start),
    )  # fmt: skip
    renewed = replace(
        sub,
        status=Status.ACTIVE,
        plan=plan,
        pending_plan=None,
        period_index=index,
        period_start=start,
        period_end=end_,
        open_invoice_id=inv.id,
        failed_at=None,
        failures=0,
        next_action_at=None,
    )
    if plan != sub.plan:
        changes.events.append(
            SubscriptionChanged(
                member_id=sub.member_id, subscription_id=sub.id, at=ts(at), change="downgraded",
                plan=plan, previous_plan=sub.plan, effective_at=ts(start),
            )
        )  # fmt: skip
    first = attempt(inv, renewed, 1, Initiator.SCHEDULE, at)
    changes.subscriptions.append(renewed)
    changes.attempts.append(first)
    return changes, first


def end(sub: Subscription, at: datetime) -> Changes:
    """A cancellation takes effect."""
    ended = replace(
        sub, status=Status.CANCELLED, cancel_at_period_end=False, next_action_at=None,
        pending_plan=None, open_invoice_id=None, failed_at=None, failures=0,
    )  # fmt: skip
    changes = Changes(subscriptions=[ended])
    changes.events.append(
        SubscriptionEnded(member_id=sub.member_id, subscription_id=sub.id, at=ts(at), plan=sub.plan)
    )
    return changes


# ---- what a charge's outcome does -----------------------------------------------------------


def settle(
    sub: Subscription, inv: Invoice, paid: Attempt, outcome: ChargeOutcome, at: datetime,
    rules: Rules,
) -> Changes:  # fmt: skip
    """The writes for a known outcome of an unresolved attempt."""
    if outcome.status == "succeeded":
        return _succeeded(sub, inv, paid, outcome, at)
    if outcome.status == "requires_action":
        decided = replace(paid, status=AttemptStatus.REQUIRES_ACTION, charge_id=outcome.charge_id)
        return Changes(attempts=[decided])
    return _declined(sub, inv, paid, outcome, at, rules)


def _succeeded(
    sub: Subscription, inv: Invoice, paid: Attempt, outcome: ChargeOutcome, at: datetime
) -> Changes:
    decided = replace(
        paid, status=AttemptStatus.SUCCEEDED, charge_id=outcome.charge_id, decided_at=at
    )
    settled = replace(inv, status=InvoiceStatus.PAID, paid_at=at)
    changes = Changes(attempts=[decided])
    changes.postings.append(ledger.payment(paid.id, sub.member_id, paid.amount, paid.currency, at))
    changes.events.append(
        PaymentSucceeded(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at), payment_id=paid.id,
            invoice_id=inv.id, kind=inv.kind.value, amount_minor=paid.amount,
            currency=paid.currency,
        )
    )  # fmt: skip
    after = sub
    if inv.kind is InvoiceKind.RENEWAL and sub.open_invoice_id == inv.id:
        after = replace(sub, open_invoice_id=None, failed_at=None, failures=0)
        if sub.status is Status.ON_HOLD:
            # Back from hold: a new month from the day of payment, not the months missed.
            start, end_ = period(at, 0)
            settled = replace(settled, period_start=start, period_end=end_)
            after = replace(after, anchor_at=start, period_index=0, period_start=start,
                            period_end=end_)  # fmt: skip
            changes.events.append(
                MemberReactivated(
                    member_id=sub.member_id, subscription_id=sub.id, at=ts(at), invoice_id=inv.id
                )
            )
        after = replace(after, status=Status.ACTIVE, next_action_at=after.period_end)
        changes.events.append(
            SubscriptionRenewed(
                member_id=sub.member_id, subscription_id=sub.id, at=ts(at), plan=inv.plan,
                invoice_id=inv.id, period_start=ts(settled.period_start),
                period_end=ts(settled.period_end), amount_minor=inv.amount,
                currency=inv.currency,
            )
        )  # fmt: skip
    elif inv.kind in (InvoiceKind.SIGNUP, InvoiceKind.REJOIN):
        after = replace(
            sub, status=Status.ACTIVE, plan=inv.plan, pending_plan=None, anchor_at=inv.period_start,
            period_index=0, period_start=inv.period_start, period_end=inv.period_end,
            cancel_at_period_end=False, open_invoice_id=None, failed_at=None, failures=0,
            next_action_at=inv.period_end,
        )  # fmt: skip
        changes.events.append(
            SubscriptionStarted(
                member_id=sub.member_id, subscription_id=sub.id, at=ts(at), plan=inv.plan,
                country=sub.country, currency=sub.currency, trial=False,
                rejoined=inv.kind is InvoiceKind.REJOIN,
            )
        )  # fmt: skip
        if inv.kind is InvoiceKind.SIGNUP:
            changes.events.append(
                MemberSignedUp(
                    member_id=sub.member_id, subscription_id=sub.id, at=ts(at), plan=inv.plan,
                    country=sub.country, trial=False,
                )
            )  # fmt: skip
    elif inv.kind is InvoiceKind.PRORATION and sub.status in (Status.TRIALING, Status.ACTIVE):
        after = replace(sub, plan=inv.plan, pending_plan=None)
        changes.events.append(
            SubscriptionChanged(
                member_id=sub.member_id, subscription_id=sub.id, at=ts(at), change="upgraded",
                plan=inv.plan, previous_plan=sub.plan, effective_at=ts(at),
            )
        )  # fmt: skip
    changes.invoices.append(settled)
    changes.subscriptions.append(after)
    return changes


def _declined(
    sub: Subscription, inv: Invoice, paid: Attempt, outcome: ChargeOutcome, at: datetime,
    rules: Rules,
) -> Changes:  # fmt: skip
    code = outcome.decline_code or "declined"
    decided = replace(
        paid, status=AttemptStatus.DECLINED, decline_code=code, charge_id=outcome.charge_id,
        decided_at=at,
    )  # fmt: skip
    changes = Changes(attempts=[decided])
    failures, retry, held = 0, None, False
    if inv.kind is InvoiceKind.RENEWAL and sub.open_invoice_id == inv.id:
        if paid.initiator is Initiator.SCHEDULE:
            failures = sub.failures + 1
            failed_at = sub.failed_at or paid.created_at
            retry = retry_at(failed_at, failures, rules.retry_days)
            after = replace(sub, failures=failures, failed_at=failed_at, next_action_at=retry,
                            status=Status.PAST_DUE if retry else Status.ON_HOLD)  # fmt: skip
            held = retry is None
        else:
            # The member's own try failed: the schedule (suspended while it ran) goes on.
            failures = sub.failures
            after = replace(sub, next_action_at=_resumed(sub, at, rules))
        changes.subscriptions.append(after)
    elif inv.status is InvoiceStatus.OPEN and inv.kind is not InvoiceKind.RENEWAL:
        # A sign-up, rejoin or upgrade the card would not pay for did not happen: no debt.
        changes.invoices.append(replace(inv, status=InvoiceStatus.VOID, voided_at=at))
        changes.postings.append(ledger.void(inv.id, sub.member_id, inv.amount, inv.currency, at))
    changes.events.append(
        PaymentFailed(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at), payment_id=paid.id,
            invoice_id=inv.id, kind=inv.kind.value, amount_minor=paid.amount,
            currency=paid.currency, decline_code=code, failures=failures,
            retry_at=ts(retry) if retry else None,
        )
    )  # fmt: skip
    if held:
        changes.events.append(
            MemberOnHold(
                member_id=sub.member_id, subscription_id=sub.id, at=ts(at), invoice_id=inv.id
            )
        )
    return changes


def _resumed(sub: Subscription, at: datetime, rules: Rules) -> datetime | None:
    """The next scheduled retry after a member's own try, for a subscription past due."""
    if sub.status is not Status.PAST_DUE or sub.failed_at is None:
        return None
    retry = retry_at(sub.failed_at, sub.failures, rules.retry_days)
    return None if retry is None else max(retry, at)


# ---- what the member does -------------------------------------------------------------------


def upgrade_price(sub: Subscription, plan: str, at: datetime, rules: Rules) -> int:
    """The prorated charge of moving up to `plan` now (0 in a trial: nothing is paid)."""
    if sub.status is Status.TRIALING:
        return 0
    return prorated(
        rules.price(sub, sub.plan), rules.price(sub, plan), sub.period_start, sub.period_end, at
    )


def change_now(sub: Subscription, plan: str, at: datetime, change: str) -> Changes:
    """A plan change that takes effect at once and costs nothing more (an upgrade in a trial,
    or one whose prorated price rounds to nothing)."""
    changes = Changes(subscriptions=[replace(sub, plan=plan, pending_plan=None)])
    changes.events.append(
        SubscriptionChanged(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at), change=change, plan=plan,
            previous_plan=sub.plan, effective_at=ts(at),
        )
    )  # fmt: skip
    return changes


def schedule_downgrade(sub: Subscription, plan: str, at: datetime) -> Changes:
    changes = Changes(subscriptions=[replace(sub, pending_plan=plan)])
    changes.events.append(
        SubscriptionChanged(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at),
            change="downgrade_scheduled", plan=sub.plan, previous_plan=sub.plan,
            effective_at=ts(sub.period_end),
        )
    )  # fmt: skip
    return changes


def withdraw_downgrade(sub: Subscription, at: datetime) -> Changes:
    changes = Changes(subscriptions=[replace(sub, pending_plan=None)])
    changes.events.append(
        SubscriptionChanged(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at),
            change="downgrade_withdrawn", plan=sub.plan, previous_plan=sub.plan,
            effective_at=ts(at),
        )
    )  # fmt: skip
    return changes


def schedule_cancel(sub: Subscription, at: datetime) -> Changes:
    changes = Changes(subscriptions=[replace(sub, cancel_at_period_end=True)])
    changes.events.append(
        SubscriptionCancelled(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at),
            ends_at=ts(sub.period_end),
        )
    )  # fmt: skip
    return changes


def cancel_now(
    sub: Subscription, open_invoices: list[Invoice], unresolved: list[Attempt], at: datetime
) -> Changes:
    """Nothing is paid for (on hold, past due, incomplete): it ends at once, and what was
    billed for the unpaid period is voided."""
    changes = end(sub, at)
    changes.events.insert(
        0,
        SubscriptionCancelled(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at), ends_at=ts(at)
        ),
    )
    for inv in open_invoices:
        changes.invoices.append(replace(inv, status=InvoiceStatus.VOID, voided_at=at))
        changes.postings.append(ledger.void(inv.id, sub.member_id, inv.amount, inv.currency, at))
    for waiting in unresolved:
        changes.attempts.extend(abandon(waiting, at))
    return changes


def withdraw_cancel(sub: Subscription, at: datetime) -> Changes:
    changes = Changes(subscriptions=[replace(sub, cancel_at_period_end=False)])
    changes.events.append(
        SubscriptionChanged(
            member_id=sub.member_id, subscription_id=sub.id, at=ts(at),
            change="cancellation_withdrawn", plan=sub.plan, previous_plan=sub.plan,
            effective_at=ts(at),
        )
    )  # fmt: skip
    return changes
