"""The subscription's rules, step by step on a fake timeline: each step's changes are applied
to an in-memory picture of the rows, as the store would write them."""

from dataclasses import replace
from datetime import timedelta

from reelcloud.platform.testing import FakeClock
from reelcloud.services.billing import lifecycle
from reelcloud.services.billing.models import (
    AttemptStatus,
    Changes,
    ChargeOutcome,
    Initiator,
    InvoiceKind,
    InvoiceStatus,
    Status,
    Subscription,
)
from reelcloud.services.billing.periods import add_months, utc

RULES = lifecycle.Rules(trial_days=30, retry_days=(1, 3, 7))
APPROVED = ChargeOutcome("succeeded", charge_id="ch_1")
DECLINED = ChargeOutcome("declined", "insufficient_funds", "ch_2")


class Books:
    """The rows and events a run of steps wrote."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.invoices = {}
        self.attempts = {}
        self.postings = []
        self.events = []

    def apply(self, changes: Changes) -> None:
        for sub in changes.subscriptions:
            self.sub = sub
        self.invoices.update({i.id: i for i in changes.invoices})
        self.attempts.update({a.id: a for a in changes.attempts})
        self.postings += changes.postings
        self.events += [e.event_type for e in changes.events]

    def balance(self, account: str) -> int:
        return sum(e.amount for p in self.postings for e in p.entries if e.account == account)

    def due(self):
        """Run what is due at the subscription's next action, returning the attempt made."""
        sub = self.sub
        open_invoice = self.invoices.get(sub.open_invoice_id or "")
        made = [
            a for a in self.attempts.values() if open_invoice and a.invoice_id == open_invoice.id
        ]
        unresolved = next(
            (a for a in made if a.status in (AttemptStatus.PENDING, AttemptStatus.REQUIRES_ACTION)),
            None,
        )
        changes, charge = lifecycle.due(
            sub, sub.next_action_at, RULES, open_invoice, len(made), unresolved
        )
        self.apply(changes)
        return charge

    def settle(self, attempt, outcome):
        inv = self.invoices[attempt.invoice_id]
        self.apply(
            lifecycle.settle(
                self.sub, inv, self.attempts[attempt.id], outcome, attempt.created_at, RULES
            )
        )


def new_member(clock: FakeClock, plan: str = "standard", country: str = "US") -> Books:
    at = utc(clock.now())
    sub = Subscription(
        id="sub_1",
        member_id="m-1",
        email="a@b.test",
        country=country,
        currency="USD",
        plan=plan,
        status=Status.INCOMPLETE,
        anchor_at=at,
        period_index=0,
        period_start=at,
        period_end=add_months(at, 1),
        created_at=at,
        payment_method_id="pm_1",
    )
    books = Books(sub)
    books.apply(lifecycle.trial(sub, at, RULES))
    return books


def test_a_trial_ends_with_the_first_invoice_and_its_charge(clock):
    books = new_member(clock)
    start = utc(clock.now())
    assert books.sub.status is Status.TRIALING
    assert books.sub.next_action_at == start + timedelta(days=30)
    assert books.events == ["subscription.started", "member.signed_up"]
    charge = books.due()
    assert charge is not None
    assert charge.initiator is Initiator.SCHEDULE
    invoice = books.invoices[charge.invoice_id]
    assert (invoice.kind, invoice.amount, invoice.currency) == (InvoiceKind.RENEWAL, 1549, "USD")
    assert (invoice.period_start, invoice.period_end) == (
        start + timedelta(days=30),
        add_months(start + timedelta(days=30), 1),
    )
    assert charge.idempotency_key == f"{invoice.id}/1"  # subscription, period, attempt
    assert books.balance("receivable:m-1") == 1549  # owed from the moment it is issued
    books.settle(charge, APPROVED)
    assert books.sub.status is Status.ACTIVE
    assert books.sub.next_action_at == invoice.period_end
    assert books.invoices[invoice.id].status is InvoiceStatus.PAID
    assert books.balance("receivable:m-1") == 0
    assert books.balance("cash:processor") == 1549
    assert books.events[-2:] == ["payment.succeeded", "subscription.renewed"]


def test_dunning_retries_after_one_three_and_seven_days_then_holds(clock):
    books = new_member(clock)
    first = books.due()
    failed_at = first.created_at
    books.settle(first, DECLINED)
    assert books.sub.status is Status.PAST_DUE
    for failures, days in ((1, 1), (2, 3), (3, 7)):
        assert books.sub.failures == failures
        assert books.sub.next_action_at == failed_at + timedelta(days=days)
        retry = books.due()
        assert retry.invoice_id == first.invoice_id  # the same invoice, a new attempt
        assert retry.idempotency_key == f"{first.invoice_id}/{failures + 1}"
        books.settle(retry, DECLINED)
    assert books.sub.status is Status.ON_HOLD
    assert books.sub.next_action_at is None
    assert books.events.count("payment.failed") == 4
    assert books.events[-1] == "member.on_hold"
    assert books.balance("receivable:m-1") == 1549  # still owed


def test_a_payment_on_hold_reactivates_with_a_new_month_from_that_day(clock):
    books = new_member(clock)
    charge = books.due()
    for _ in range(4):
        books.settle(charge, DECLINED)
        charge = books.due() if books.sub.status is Status.PAST_DUE else None
    assert books.sub.status is Status.ON_HOLD
    paid_at = books.sub.failed_at + timedelta(days=12)
    owed = books.invoices[books.sub.open_invoice_id]
    mine = lifecycle.attempt(owed, books.sub, 5, Initiator.MEMBER, paid_at)
    books.apply(Changes(attempts=[mine]))
    books.settle(mine, APPROVED)
    assert books.sub.status is Status.ACTIVE
    assert (books.sub.period_start, books.sub.period_end) == (paid_at, add_months(paid_at, 1))
    assert books.sub.next_action_at == add_months(paid_at, 1)
    assert "member.reactivated" in books.events
    assert books.balance("receivable:m-1") == 0


def test_a_members_own_failed_payment_does_not_move_the_schedule(clock):
    books = new_member(clock)
    books.settle(books.due(), DECLINED)
    retry_at = books.sub.next_action_at
    owed = books.invoices[books.sub.open_invoice_id]
    # The member tries a card meanwhile (the schedule waits while it is charged).
    mine = lifecycle.attempt(owed, books.sub, 2, Initiator.MEMBER, retry_at - timedelta(hours=2))
    books.apply(Changes(subscriptions=[replace(books.sub, next_action_at=None)], attempts=[mine]))
    books.settle(mine, DECLINED)
    assert books.sub.status is Status.PAST_DUE
    assert books.sub.failures == 1  # only scheduled charges count towards the hold
    assert books.sub.next_action_at == retry_at


def test_a_downgrade_waits_for_the_next_period(clock):
    books = new_member(clock, plan="premium")
    books.settle(books.due(), APPROVED)
    books.apply(
        lifecycle.schedule_downgrade(books.sub, "basic", books.sub.period_start + timedelta(days=3))
    )
    assert (books.sub.plan, books.sub.pending_plan) == ("premium", "basic")
    charge = books.due()
    assert books.invoices[charge.invoice_id].amount == 999  # basic, in the new period
    assert (books.sub.plan, books.sub.pending_plan) == ("basic", None)
    assert "subscription.changed" in books.events


def test_a_cancellation_ends_at_the_end_of_the_paid_period(clock):
    books = new_member(clock)
    books.settle(books.due(), APPROVED)
    end = books.sub.period_end
    books.apply(lifecycle.schedule_cancel(books.sub, books.sub.period_start + timedelta(days=1)))
    assert books.sub.status is Status.ACTIVE  # it still plays until then
    assert books.sub.next_action_at == end
    assert books.due() is None
    assert books.sub.status is Status.CANCELLED
    assert books.events[-2:] == ["subscription.cancelled", "subscription.ended"]
    assert len(books.invoices) == 1  # nothing billed for a period never to come


def test_a_declined_sign_up_or_upgrade_leaves_no_debt(clock):
    books = new_member(clock)
    books.settle(books.due(), APPROVED)
    at = books.sub.period_start + timedelta(days=10)
    amount = lifecycle.upgrade_price(books.sub, "premium", at, RULES)
    assert 0 < amount < 2299 - 1549
    inv, changes = lifecycle.invoice(
        books.sub, InvoiceKind.PRORATION, "premium", amount, at, books.sub.period_end, at
    )
    charge = lifecycle.attempt(inv, books.sub, 1, Initiator.MEMBER, at)
    changes.attempts.append(charge)
    books.apply(changes)
    assert books.balance("receivable:m-1") == amount
    books.settle(charge, DECLINED)
    assert books.invoices[inv.id].status is InvoiceStatus.VOID
    assert books.balance("receivable:m-1") == 0
    assert books.sub.plan == "standard"
    assert books.sub.status is Status.ACTIVE


def test_nothing_is_charged_while_an_earlier_charge_is_unheard(clock):
    books = new_member(clock)
    books.settle(books.due(), DECLINED)
    retry = books.due()  # sent; its answer never came
    books.apply(
        Changes(
            subscriptions=[
                replace(books.sub, next_action_at=books.sub.failed_at + timedelta(days=3))
            ]
        )
    )
    assert books.due() is None  # not a second charge beside the unheard one
    assert books.sub.next_action_at is None
    books.settle(retry, APPROVED)  # reconciled: it had gone through
    assert books.sub.status is Status.ACTIVE


def test_a_second_step_never_taken_gives_way_to_the_next_retry(clock):
    books = new_member(clock)
    books.settle(books.due(), DECLINED)
    owed = books.invoices[books.sub.open_invoice_id]
    mine = lifecycle.attempt(
        owed, books.sub, 2, Initiator.MEMBER, books.sub.failed_at + timedelta(hours=1)
    )
    books.apply(Changes(subscriptions=[replace(books.sub, next_action_at=None)], attempts=[mine]))
    books.settle(mine, ChargeOutcome("requires_action", charge_id="ch_3"))
    assert books.attempts[mine.id].status is AttemptStatus.REQUIRES_ACTION
    books.apply(
        Changes(
            subscriptions=[
                replace(books.sub, next_action_at=books.sub.failed_at + timedelta(days=1))
            ]
        )
    )
    retry = books.due()
    assert retry is not None
    assert books.attempts[mine.id].status is AttemptStatus.ABANDONED


def test_an_upgrade_in_a_trial_costs_nothing(clock):
    books = new_member(clock, plan="basic")
    assert lifecycle.upgrade_price(books.sub, "premium", utc(clock.now() + 3600), RULES) == 0
    books.apply(lifecycle.change_now(books.sub, "premium", utc(clock.now()), "upgraded"))
    assert books.sub.plan == "premium"
    assert books.due().amount == 2299  # the first invoice at the new plan


def test_a_second_step_left_too_long_is_given_up(clock):
    books = new_member(clock)
    books.settle(books.due(), DECLINED)
    owed = books.invoices[books.sub.open_invoice_id]
    tried_at = books.sub.failed_at + timedelta(hours=1)
    mine = lifecycle.attempt(owed, books.sub, 2, Initiator.MEMBER, tried_at)
    books.apply(Changes(subscriptions=[replace(books.sub, next_action_at=None)], attempts=[mine]))
    books.settle(mine, ChargeOutcome("requires_action", charge_id="ch_3"))
    assert books.sub.next_action_at is None  # the retries wait while the member is asked
    books.apply(
        lifecycle.give_up(
            books.sub, owed, books.attempts[mine.id], tried_at + timedelta(days=1), RULES
        )
    )
    assert books.attempts[mine.id].status is AttemptStatus.ABANDONED
    # The retry it held up was due an hour ago: it runs at once.
    assert books.sub.next_action_at == tried_at + timedelta(days=1)
    # A sign-up whose second step never came: no subscription, nothing owed.
    at = books.sub.period_start
    inv, changes = lifecycle.invoice(
        books.sub, InvoiceKind.SIGNUP, "standard", 1549, at, add_months(at, 1), at
    )
    signup = lifecycle.attempt(inv, books.sub, 1, Initiator.MEMBER, at)
    changes.attempts.append(replace(signup, status=AttemptStatus.REQUIRES_ACTION))
    books.apply(changes)
    books.apply(
        lifecycle.give_up(books.sub, inv, books.attempts[signup.id], at + timedelta(days=1), RULES)
    )
    assert books.invoices[inv.id].status is InvoiceStatus.VOID
    assert books.balance("receivable:m-1") == owed.amount  # only the renewal is still owed
