"""One simulated year of 1,000 members on a fake clock, with a mix of cards: approvals,
declines (insufficient funds, expired, stolen, a second step nobody can pass off session),
timeouts, 500s, and billing dying between a charge and its ledger write. Real PostgreSQL,
the real payments process over HTTP.

At the end the ledger balances to the cent, no card was charged twice for a period (by the
processor's own records), every declined member went on hold exactly after the retries of
1, 3 and 7 days and was reactivated after paying, and everyone else paid every month."""

from __future__ import annotations

from collections import Counter, defaultdict

import orjson
import pytest
import pytest_asyncio
from test_billing_harness import (
    Payments,
    Postgres,
    Wired,
    assert_books_balance,
    card,
    wired_billing,
)

from reelcloud.platform.testing import FakeClock
from reelcloud.services.billing.api import build_service
from reelcloud.services.billing.collection import bounded
from reelcloud.services.billing.models import Attempt, ChargeOutcome, Initiator, Status
from reelcloud.services.billing.periods import add_months, utc
from reelcloud.services.billing.requests import NO_TRIAL, TRIAL_IF_ELIGIBLE
from reelcloud.services.billing.settings import BillingSettings
from reelcloud.services.payments.cards import Behaviour

pytestmark = pytest.mark.asyncio(loop_scope="module")

DAY = 86_400
DAYS = 400  # sign-ups over the first three weeks, then a year of renewals for everyone
COHORTS = (0, 9, 19)  # sign-up days: renewals (and the timeouts' waits) bunch on a few days
MIX = [
    (Behaviour.APPROVE, 700),
    (Behaviour.INSUFFICIENT_FUNDS, 60),
    (Behaviour.EXPIRED_CARD, 40),
    (Behaviour.STOLEN_CARD, 20),
    (Behaviour.REQUIRES_ACTION, 30),  # off session: authentication_required, like a decline
    (Behaviour.TIMEOUT, 50),
    (Behaviour.ERROR, 50),
    ("crash", 50),  # approving cards; billing dies after their 1st and 6th renewal charges
]
DECLINING = {
    Behaviour.INSUFFICIENT_FUNDS, Behaviour.EXPIRED_CARD, Behaviour.STOLEN_CARD,
    Behaviour.REQUIRES_ACTION,
}  # fmt: skip
OPTIONS = {"payments_timeout_ms": 150, "charge_concurrency": 64, "renewal_batch": 500}


class SimulatedCrash(Exception):
    """Billing dying between the processor's answer and the write of it."""


class CrashAfterCharge:
    def __init__(self, members: set[str], renewals: set[int]) -> None:
        self.members = members
        self.renewals = renewals
        self.sent: Counter[str] = Counter()
        self.crashed: Counter[str] = Counter()

    def after_charge(self, attempt: Attempt, outcome: ChargeOutcome) -> None:
        if attempt.member_id not in self.members or attempt.initiator is not Initiator.SCHEDULE:
            return
        self.sent[attempt.member_id] += 1
        if self.sent[attempt.member_id] in self.renewals:
            self.crashed[attempt.member_id] += 1
            raise SimulatedCrash(attempt.id)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("billing-year")
    postgres, payments = Postgres(root), Payments(root, slow_response_s=2)
    await postgres.start()
    await payments.start()
    clock = FakeClock(start=1_700_000_000.0)
    wired = await wired_billing(root, postgres, payments, clock, **OPTIONS)
    try:
        yield wired, payments
    finally:
        await wired.aclose()
        await payments.stop()
        await postgres.stop()


async def run_day(wired: Wired, crashes: CrashAfterCharge) -> int:
    """Today's renewals; a crash is a restart (a new service on the same database) and the
    run again, as the schedule would after the process came back. How many restarts."""
    restarts = 0
    while True:
        wired.service.collector.faults = crashes
        try:
            await wired.service.run_renewals(utc(wired.clock.now()))
            return restarts
        except SimulatedCrash:
            restarts += 1
            wired.service = build_service(
                wired.service.store, wired.processor,
                BillingSettings.model_validate(OPTIONS), wired.clock,
            )  # fmt: skip


async def test_a_year_of_a_thousand_members(engines):
    wired, payments = engines
    clock = wired.clock
    behaviours: dict[str, Behaviour | str] = {}
    serial = 0
    for behaviour, count in MIX:
        for _ in range(count):
            serial += 1
            behaviours[f"m-year-{serial:04d}"] = behaviour
    members = list(behaviours)
    cohorts = {day: members[i :: len(COHORTS)] for i, day in enumerate(COHORTS)}
    crash = CrashAfterCharge({m for m, b in behaviours.items() if b == "crash"}, {1, 6})
    # What some members do, by day: upgrades, downgrades, a cancel and a rejoin, paid sign-ups.
    approving = [m for m, b in behaviours.items() if b == Behaviour.APPROVE]
    upgraders, downgraders, leavers = approving[:60], approving[60:120], approving[120:170]
    paid_at_once = set(approving[170:220])
    actions: defaultdict[int, list] = defaultdict(list)
    for m in upgraders:
        actions[75].append(lambda m=m: wired.service.change_plan(member_id=m, plan="premium"))
    for m in downgraders:
        actions[110].append(lambda m=m: wired.service.change_plan(member_id=m, plan="basic"))
    for m in leavers:
        actions[150].append(lambda m=m: wired.service.cancel(member_id=m))
        actions[230].append(lambda m=m: wired.service.rejoin(member_id=m))
    repaying: dict[str, int] = {}  # declined member → the day they put in a good card
    restarts = 0

    for day in range(DAYS):
        if day in cohorts:

            async def sign_up(m: str) -> None:
                behaviour = behaviours[m]
                kind = Behaviour.APPROVE if behaviour == "crash" else behaviour
                await wired.service.start(
                    member_id=m,
                    email=f"{m}@reelcloud.test",
                    country=("US", "GB", "FR", "BR")[int(m[-4:]) % 4],
                    currency="",
                    plan="standard",
                    card=card(kind),
                    trial=NO_TRIAL if m in paid_at_once else TRIAL_IF_ELIGIBLE,
                )

            await bounded(cohorts[day], sign_up, 32)
        restarts += await run_day(wired, crash)
        await bounded(actions.pop(day, []), lambda act: act(), 32)
        # Declined members on hold put in a good card two days later.
        held = await wired.service.store.pool.fetch(
            "SELECT member_id FROM subscriptions WHERE status = 'on_hold'"
        )
        for row in held:
            repaying.setdefault(row["member_id"], day + 2)
        due_today = [m for m, when in repaying.items() if when == day]
        await bounded(
            due_today, lambda m: wired.service.update_payment_method(member_id=m, card=card()), 32
        )
        clock.advance(DAY)
    # The last answers never heard (today's timeouts) reconciled, nothing new started.
    for _ in range(2):
        await wired.service.collector.reconcile(500)

    # A crash also cuts off the charges in flight beside it (found at the processor on the
    # run after), so which renewals count as a member's 1st and 6th varies; every one of
    # them crashed billing at least once.
    assert set(crash.crashed) == crash.members
    assert 0 < restarts <= sum(crash.crashed.values())  # two crashes may end one run
    store = wired.service.store
    await assert_books_balance(store, payments)
    assert await store.pool.fetchval("SELECT count(*) FROM attempts WHERE status = 'pending'") == 0

    # Every declined member: failed at the trial's end, retried 1, 3 and 7 days later, on
    # hold after the last, reactivated after paying — and never on hold otherwise.
    events: defaultdict[str, list] = defaultdict(list)
    for row in await store.pool.fetch("SELECT type, payload FROM outbox ORDER BY id"):
        payload = orjson.loads(row["payload"])
        events[payload["member_id"]].append((row["type"], payload))
    subs = {row["member_id"]: row for row in await store.pool.fetch("SELECT * FROM subscriptions")}
    end = utc(clock.now())
    for m, behaviour in behaviours.items():
        sub = subs[m]
        kinds = [t for t, _ in events[m]]
        assert sub["status"] == Status.ACTIVE, (m, behaviour, sub["status"], kinds)
        assert await store.receivable(m) == 0, (m, behaviour)
        if behaviour in DECLINING:
            failed = [p for t, p in events[m] if t == "payment.failed"]
            assert len(failed) == 4, (m, kinds)
            first = failed[0]["at"]
            assert [round((p["at"] - first) / DAY, 6) for p in failed] == [0, 1, 3, 7], (m, failed)
            assert kinds.count("member.on_hold") == 1
            assert kinds.count("member.reactivated") == 1
            assert kinds.index("member.on_hold") < kinds.index("member.reactivated")
            hold = next(p for t, p in events[m] if t == "member.on_hold")
            assert hold["at"] == failed[-1]["at"]
        else:
            assert "member.on_hold" not in kinds, (m, behaviour, kinds)
            assert "payment.failed" not in kinds, (m, behaviour, kinds)
            if m not in leavers:
                # Every month from the first paid period to the end was paid, once.
                anchor = sub["anchor_at"]
                periods = sum(1 for k in range(20) if add_months(anchor, k) <= end)
                paid = await store.pool.fetchval(
                    "SELECT count(*) FROM invoices WHERE member_id = $1 AND status = 'paid' "
                    "AND kind IN ('renewal', 'signup')",
                    m,
                )
                assert paid == periods, (m, behaviour, paid, periods)
                assert periods >= 12
    plans = Counter(subs[m]["plan"] for m in upgraders)
    assert plans == {"premium": len(upgraders)}
    assert Counter(subs[m]["plan"] for m in downgraders) == {"basic": len(downgraders)}
    assert all([t for t, _ in events[m]].count("subscription.ended") == 1 for m in leavers)
    # The processor saw each charge of every month: about 12 per member, never one more.
    charges = await payments.records()
    assert len([c for c in charges if c["status"] == "succeeded"]) > 11_000
