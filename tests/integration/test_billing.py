"""Billing over gRPC with a real PostgreSQL and the real payments process over HTTP: a
member's whole lifecycle (trial, first invoice, paid sign-up, plan changes, cancel, rejoin,
dunning to hold and back, a second step, refunds, charges whose answer never came), every
bad request refused with its code and nothing changed, and the books checked after each."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from test_billing_harness import (
    Payments,
    Postgres,
    assert_books_balance,
    billing_settings,
    card,
    error_code,
    member_id,
    stub,
)
from tests.support.engines import NatsServer
from tests.support.servers import RunningService
from tests.support.waiting import wait_for

from reelcloud.platform import pricing
from reelcloud.platform.app import STATE
from reelcloud.platform.events import EventConsumer, decode
from reelcloud.platform.events.schema import MemberOnHold, MemberReactivated, MemberSignedUp
from reelcloud.rpc import billing_pb2
from reelcloud.services.billing.api import SERVICE
from reelcloud.services.billing.outbox import OutboxRelay
from reelcloud.services.payments.cards import Behaviour

pytestmark = pytest.mark.asyncio(loop_scope="module")

DAY = 86_400


def card_message(behaviour=Behaviour.APPROVE, serial=None):
    c = card(behaviour, serial)
    return billing_pb2.Card(number=c.number, exp_month=c.exp_month, exp_year=c.exp_year, cvc=c.cvc)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("billing")
    postgres, payments = Postgres(root), Payments(root, slow_response_s=5)
    await postgres.start()
    await payments.start()
    billing = RunningService(billing_settings(root, postgres, payments, controllable_clock=True))
    await billing.start()
    channel, client = stub(billing.app[STATE].rpc.port)
    try:
        yield client, payments, billing
    finally:
        await channel.close()
        await billing.stop()
        await payments.stop()
        await postgres.stop()


@pytest.fixture
def client(engines):
    return engines[0]


@pytest.fixture
def payments(engines):
    return engines[1]


@pytest.fixture
def store(engines):
    return engines[2].app[SERVICE].store


async def now(client) -> int:
    return (await client.RunRenewals(billing_pb2.RunRenewalsRequest())).now


async def advance(client, seconds: float) -> billing_pb2.RunRenewalsResponse:
    """Billing's clock moved ahead, and everything due by then run."""
    return await client.RunRenewals(
        billing_pb2.RunRenewalsRequest(until=int(await now(client) + seconds))
    )


async def start(
    client,
    member=None,
    *,
    email=None,
    plan="standard",
    country="US",
    behaviour=Behaviour.APPROVE,
    trial=billing_pb2.TRIAL_IF_ELIGIBLE,
    card_=None,
    key="",
    currency="",
):
    member = member or member_id()
    answer = await client.StartSubscription(
        billing_pb2.StartSubscriptionRequest(
            member_id=member,
            email=email or f"{member}@reelcloud.test",
            country=country,
            currency=currency,
            plan=plan,
            card=card_ or card_message(behaviour),
            trial=trial,
            idempotency_key=key,
        )
    )
    return member, answer


async def refused(call, code: str, status=None):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert error_code(caught.value) == code, caught.value.details()
    if status is not None:
        assert caught.value.code() is status
    return caught.value


async def invoices(client, member):
    return list(
        (await client.ListInvoices(billing_pb2.ListInvoicesRequest(member_id=member))).invoices
    )


async def subscription(client, member):
    return await client.GetSubscription(billing_pb2.GetSubscriptionRequest(member_id=member))


async def charges_of(payments, member):
    return [c for c in await payments.records() if c["metadata"]["member_id"] == member]


async def test_a_trial_ends_with_the_first_charge_as_an_invoice(client, payments, store):
    member, answer = await start(client, plan="premium", country="GB")
    sub = answer.subscription
    assert answer.trial
    assert not answer.HasField("payment")
    assert (sub.status, sub.plan, sub.currency) == ("trialing", "premium", "GBP")
    assert sub.trial_ends_at - sub.period_start == 30 * DAY
    assert (sub.next_bill_at, sub.next_bill.amount_minor) == (sub.trial_ends_at, 1799)
    assert await invoices(client, member) == []

    await advance(client, 30 * DAY + 60)
    sub = await subscription(client, member)
    assert sub.status == "active"
    [invoice] = await invoices(client, member)
    assert (invoice.kind, invoice.status, invoice.plan) == ("renewal", "paid", "premium")
    assert (invoice.amount.amount_minor, invoice.amount.currency) == (1799, "GBP")
    assert (
        invoice.period_start
        == sub.period_start
        == (await subscription(client, member)).trial_ends_at
    )
    assert sub.balance_due.amount_minor == 0
    [charge] = await charges_of(payments, member)
    assert (charge["amount"], charge["currency"], charge["off_session"]) == (1799, "GBP", True)
    await assert_books_balance(store, payments)


async def test_one_trial_per_email_and_per_card(client, payments):
    shared = card_message(serial=4_242_001)
    await start(client, email="once@reelcloud.test", card_=shared)
    assert not (
        await client.CheckTrial(billing_pb2.CheckTrialRequest(email="ONCE@reelcloud.test"))
    ).eligible
    # The same card with another email: refused when a trial is required, nothing written.
    other = member_id()
    await refused(
        start(client, other, card_=shared, trial=billing_pb2.TRIAL_REQUIRED),
        "trial_already_used",
        grpc.StatusCode.ALREADY_EXISTS,
    )
    await refused(subscription(client, other), "no_subscription", grpc.StatusCode.NOT_FOUND)
    assert await charges_of(payments, other) == []
    # ... and paid at once when a trial is only wanted if there is one.
    _, paid = await start(client, other, card_=shared)
    assert not paid.trial
    assert (paid.payment.status, paid.subscription.status) == ("succeeded", "active")
    assert paid.payment.amount.amount_minor == pricing.price("US", "standard").amount_minor
    # The same email with a new card.
    _, answer = await start(
        client, email="once@reelcloud.test", trial=billing_pb2.TRIAL_IF_ELIGIBLE
    )
    assert not answer.trial
    assert answer.subscription.status == "active"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"plan": "platinum"}, "unknown_plan"),
        ({"country": "ZZ"}, "country_not_sold"),
        ({"country": "CN"}, "country_not_sold"),
        ({"country": "FR", "currency": "USD"}, "currency_not_sold"),
        (
            {
                "card_": billing_pb2.Card(
                    number="4242424242424241", exp_month=1, exp_year=2099, cvc="123"
                )
            },
            "invalid_card",
        ),
        (
            {"card_": billing_pb2.Card(number="42", exp_month=1, exp_year=2099, cvc="123")},
            "invalid_card",
        ),
        (
            {
                "card_": billing_pb2.Card(
                    number="4242424242424242", exp_month=13, exp_year=2099, cvc="123"
                )
            },
            "invalid_card",
        ),
        ({"email": "not an address"}, "bad_email"),
        ({"key": "spaces are not allowed"}, "bad_idempotency_key"),
        ({"member": "m\x00nul"}, "bad_request"),
    ],
)
async def test_bad_sign_ups_are_refused_with_a_clear_code_and_change_nothing(
    client, payments, change, code
):
    before = len(await payments.records())
    member = change.pop("member", member_id())
    await refused(start(client, member, **change), code, grpc.StatusCode.INVALID_ARGUMENT)
    if "\x00" not in member:
        await refused(subscription(client, member), "no_subscription")
    assert len(await payments.records()) == before


async def test_a_declined_paid_sign_up_owes_nothing_and_can_be_tried_again(client, payments, store):
    member, answer = await start(
        client, behaviour=Behaviour.INSUFFICIENT_FUNDS, trial=billing_pb2.NO_TRIAL
    )
    assert (answer.payment.status, answer.payment.decline_code) == (
        "declined",
        "insufficient_funds",
    )
    assert "insufficient funds" in answer.payment.message
    assert answer.subscription.status == "incomplete"
    assert answer.subscription.balance_due.amount_minor == 0
    [invoice] = await invoices(client, member)
    assert invoice.status == "void"
    _, again = await start(client, member, trial=billing_pb2.NO_TRIAL)
    assert (again.payment.status, again.subscription.status) == ("succeeded", "active")
    await assert_books_balance(store, payments)


async def test_a_repeated_key_answers_the_first_request_and_another_body_is_refused(
    client, payments
):
    member = member_id()
    good = card_message()
    _, first = await start(client, member, trial=billing_pb2.NO_TRIAL, card_=good, key="signup-1")
    _, again = await start(client, member, trial=billing_pb2.NO_TRIAL, card_=good, key="signup-1")
    assert (again.payment.id, again.payment.status) == (first.payment.id, "succeeded")
    await refused(
        start(
            client, member, plan="premium", trial=billing_pb2.NO_TRIAL, card_=good, key="signup-1"
        ),
        "idempotency_key_reused",
        grpc.StatusCode.ALREADY_EXISTS,
    )
    change = billing_pb2.ChangePlanRequest(member_id=member, plan="premium", idempotency_key="up-1")
    upgraded = await client.ChangePlan(change)
    assert (await client.ChangePlan(change)).payment.id == upgraded.payment.id
    await refused(
        client.ChangePlan(
            billing_pb2.ChangePlanRequest(member_id=member, plan="basic", idempotency_key="up-1")
        ),
        "idempotency_key_reused",
    )
    assert (await subscription(client, member)).plan == "premium"
    assert len(await charges_of(payments, member)) == 2  # the sign-up and the upgrade, once each


async def test_an_upgrade_charges_the_rest_of_the_period_and_a_downgrade_waits(
    client, payments, store
):
    member, answer = await start(client, plan="basic", trial=billing_pb2.NO_TRIAL)
    sub = answer.subscription
    await advance(client, 10 * DAY)
    at = await now(client)
    upgraded = await client.ChangePlan(
        billing_pb2.ChangePlanRequest(member_id=member, plan="premium")
    )
    difference = (
        pricing.price("US", "premium").amount_minor - pricing.price("US", "basic").amount_minor
    )
    share = (sub.period_end - at) / (sub.period_end - sub.period_start)
    assert upgraded.payment.status == "succeeded"
    assert abs(upgraded.payment.amount.amount_minor - difference * share) <= 1
    assert upgraded.subscription.plan == "premium"
    downgraded = await client.ChangePlan(
        billing_pb2.ChangePlanRequest(member_id=member, plan="standard")
    )
    assert (downgraded.subscription.plan, downgraded.subscription.pending_plan) == (
        "premium",
        "standard",
    )
    assert not downgraded.HasField("payment")
    assert (
        downgraded.subscription.next_bill.amount_minor
        == pricing.price("US", "standard").amount_minor
    )
    await advance(client, sub.period_end - at + 60)
    after = await subscription(client, member)
    assert (after.plan, after.pending_plan) == ("standard", "")
    kinds = [(i.kind, i.plan, i.amount.amount_minor) for i in await invoices(client, member)]
    assert kinds[0] == ("renewal", "standard", pricing.price("US", "standard").amount_minor)
    assert [k[0] for k in kinds] == ["renewal", "proration", "signup"]
    await assert_books_balance(store, payments)


async def test_cancel_at_period_end_then_rejoin(client, payments, store):
    member, answer = await start(client, trial=billing_pb2.NO_TRIAL)
    end = answer.subscription.period_end
    cancelled = await client.Cancel(billing_pb2.CancelRequest(member_id=member))
    assert (cancelled.subscription.status, cancelled.subscription.cancel_at_period_end) == (
        "active",
        True,
    )
    assert cancelled.subscription.next_bill_at == 0
    back = await client.Rejoin(
        billing_pb2.RejoinRequest(member_id=member)
    )  # before it ends: undone
    assert not back.subscription.cancel_at_period_end
    assert not back.HasField("payment")
    await client.Cancel(billing_pb2.CancelRequest(member_id=member))
    await advance(client, end - await now(client) + 60)
    assert (await subscription(client, member)).status == "cancelled"
    assert len(await invoices(client, member)) == 1  # nothing billed after the end
    rejoined = await client.Rejoin(billing_pb2.RejoinRequest(member_id=member, plan="premium"))
    assert (rejoined.payment.status, rejoined.subscription.status, rejoined.subscription.plan) == (
        "succeeded",
        "active",
        "premium",
    )
    assert (await invoices(client, member))[0].kind == "rejoin"
    await assert_books_balance(store, payments)


async def test_a_declined_renewal_retries_then_holds_and_a_new_card_reactivates(
    client, payments, store
):
    member, answer = await start(client, behaviour=Behaviour.EXPIRED_CARD)
    trial_end = answer.subscription.trial_ends_at
    await advance(client, trial_end - await now(client) + 60)
    sub = await subscription(client, member)
    assert sub.status == "past_due"
    assert sub.retry_at - trial_end in range(DAY, DAY + 120)
    await advance(client, 7 * DAY + 120)
    sub = await subscription(client, member)
    assert sub.status == "on_hold"
    assert sub.balance_due.amount_minor == pricing.price("US", "standard").amount_minor
    [invoice] = await invoices(client, member)
    assert invoice.attempts == 4  # the renewal, then retries after 1, 3 and 7 days
    # On hold, a plan change is refused and changes nothing.
    await refused(
        client.ChangePlan(billing_pb2.ChangePlanRequest(member_id=member, plan="premium")),
        "subscription_on_hold",
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert (await subscription(client, member)).plan == "standard"
    at = await now(client)
    paid = await client.UpdatePaymentMethod(
        billing_pb2.UpdatePaymentMethodRequest(member_id=member, card=card_message())
    )
    sub = paid.subscription
    assert (paid.payment.status, sub.status, sub.balance_due.amount_minor) == (
        "succeeded",
        "active",
        0,
    )
    assert sub.period_start - at in range(0, 60)  # a new month from the payment
    types = [
        r["type"]
        for r in await store.pool.fetch(
            "SELECT type FROM outbox WHERE payload->>'member_id' = $1 ORDER BY id", member
        )
    ]
    assert types.index("member.on_hold") < types.index("member.reactivated")
    assert types.count("payment.failed") == 4
    await assert_books_balance(store, payments)


async def test_a_second_step_is_confirmed_by_the_member(client, payments, store):
    member, answer = await start(
        client, behaviour=Behaviour.REQUIRES_ACTION, trial=billing_pb2.NO_TRIAL
    )
    assert (answer.payment.status, answer.subscription.status) == ("requires_action", "incomplete")
    confirmed = await client.ConfirmPayment(
        billing_pb2.ConfirmPaymentRequest(member_id=member, payment_id=answer.payment.id)
    )
    assert (confirmed.payment.status, confirmed.subscription.status) == ("succeeded", "active")
    await refused(
        client.ConfirmPayment(
            billing_pb2.ConfirmPaymentRequest(member_id=member_id(), payment_id=answer.payment.id)
        ),
        "no_such_payment",
        grpc.StatusCode.NOT_FOUND,
    )
    await assert_books_balance(store, payments)


@pytest.mark.parametrize("behaviour", [Behaviour.TIMEOUT, Behaviour.ERROR])
async def test_a_charge_whose_answer_never_came_is_reconciled_once(
    client, payments, store, behaviour
):
    member, answer = await start(client, behaviour=behaviour, trial=billing_pb2.NO_TRIAL)
    assert (answer.payment.status, answer.subscription.status) == ("pending", "incomplete")
    # While it is unresolved nothing else may charge the member.
    await refused(client.Rejoin(billing_pb2.RejoinRequest(member_id=member)), "payment_pending")
    report = await client.RunRenewals(billing_pb2.RunRenewalsRequest())  # as the schedule would
    assert (report.reconciled, report.pending) == (1, 0)
    sub = await subscription(client, member)
    assert sub.status == "active"
    [charge] = await charges_of(payments, member)
    assert charge["status"] == "succeeded"
    await assert_books_balance(store, payments)


async def test_refunds_up_to_what_was_paid(client, payments, store):
    member, answer = await start(client, trial=billing_pb2.NO_TRIAL, country="BR")
    invoice = answer.payment.invoice_id
    part = await client.Refund(
        billing_pb2.RefundRequest(
            member_id=member, invoice_id=invoice, amount_minor=1000, idempotency_key="r-1"
        )
    )
    assert (part.status, part.amount.amount_minor, part.invoice.refunded.amount_minor) == (
        "succeeded",
        1000,
        1000,
    )
    again = await client.Refund(
        billing_pb2.RefundRequest(
            member_id=member, invoice_id=invoice, amount_minor=1000, idempotency_key="r-1"
        )
    )
    assert again.id == part.id  # once
    await refused(
        client.Refund(
            billing_pb2.RefundRequest(member_id=member, invoice_id=invoice, amount_minor=10**6)
        ),
        "refund_exceeds_payment",
    )
    rest = await client.Refund(billing_pb2.RefundRequest(member_id=member, invoice_id=invoice))
    assert rest.amount.amount_minor == pricing.price("BR", "standard").amount_minor - 1000
    await refused(
        client.Refund(billing_pb2.RefundRequest(member_id=member_id(), invoice_id=invoice)),
        "no_such_invoice",
        grpc.StatusCode.NOT_FOUND,
    )
    balances = {
        b.account: b.balance.amount_minor
        for b in (
            await client.GetBalances(billing_pb2.GetBalancesRequest(member_id=member))
        ).balances
    }
    assert balances == {f"receivable:{member}": 0}
    assert len(await payments.records("refunds")) >= 2
    await assert_books_balance(store, payments)


async def test_plans_are_listed_in_the_countrys_currency(client):
    listed = await client.ListPlans(billing_pb2.ListPlansRequest(country="fr"))
    assert (listed.currency, listed.trial_days) == ("EUR", 30)
    assert [(p.name, p.price.amount_minor, p.max_streams) for p in listed.plans] == [
        ("basic", 1099, 1),
        ("standard", 1349, 2),
        ("premium", 1999, 4),
    ]
    await refused(client.ListPlans(billing_pb2.ListPlansRequest(country="RU")), "country_not_sold")


async def test_hold_and_reactivation_reach_the_event_stream_once(client, store, tmp_path):
    member, answer = await start(client, behaviour=Behaviour.STOLEN_CARD)
    await advance(client, answer.subscription.trial_ends_at - await now(client) + 8 * DAY)
    await client.UpdatePaymentMethod(
        billing_pb2.UpdatePaymentMethodRequest(member_id=member, card=card_message())
    )
    nats_server = NatsServer(tmp_path / "nats")
    nats_server.start()
    relay = OutboxRelay(store, nats_server.url, interval_s=0.1)
    consumer = EventConsumer(nats_server.url, "accounts-test", subject="events.member.>")
    try:
        while await relay.flush():
            pass
        await consumer.start()

        async def members_events():
            found = []
            for envelope, message in await consumer.fetch(timeout_s=0.5):
                await message.ack()
                event = decode(envelope)
                if event.member_id == member:
                    found.append(event)
            return found

        seen: list = []

        async def three_seen():
            seen.extend(await members_events())
            return len(seen) >= 3

        await wait_for(three_seen, what=lambda: f"three member events on the stream: {seen}")
        assert [type(e) for e in seen] == [MemberSignedUp, MemberOnHold, MemberReactivated]
        assert seen[0].at <= seen[1].at < seen[2].at
        # Sent again (a relay that died between the ack and marking the rows): stored once.
        await store.pool.execute(
            "UPDATE outbox SET published_at = NULL WHERE payload->>'member_id' = $1", member
        )
        assert await relay.flush() >= 2
        assert await members_events() == []
    finally:
        await consumer.aclose()
        await relay.aclose()
        nats_server.stop()
