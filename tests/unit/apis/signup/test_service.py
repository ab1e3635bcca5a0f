"""The sign-up saga's rules, over a fake accounts and a fake billing that answer as told and
record what they were asked: what each outcome of billing leaves behind, what is undone, what
keys billing is sent, and that an account action checks the session before billing is asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.unit.apis.signup.fakes import (
    CARD,
    EMAIL,
    FakeAccounts,
    FakeBilling,
    answer,
    form,
    subscription,
)

from reelcloud.apis.signup.models import AccountChange
from reelcloud.apis.signup.service import MAX_KEY, Caller, SignupService, checked_key
from reelcloud.platform.errors import (
    BadRequestError,
    ConflictError,
    PaymentRequiredError,
    UnauthenticatedError,
    UnavailableError,
)

pytestmark = pytest.mark.asyncio

Action = Callable[[SignupService, Caller], Awaitable[object]]


# ---- joining ----------------------------------------------------------------------------------


async def test_a_trial_sign_up_activates_the_member_and_keys_billing_by_the_clients_key(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = answer("trialing")
    joined = await service.sign_up(form(), "client-key-1")
    assert (joined.status, joined.trial, joined.member.status) == ("active", True, "active")
    assert billing.asked("start") == [("start", joined.member.id, "signup:client-key-1")]
    assert accounts.called("activate") == [joined.member.id]
    assert accounts.status_of(EMAIL) == "active"


async def test_accounts_and_billing_see_the_form_normalised(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    await service.sign_up(form(email="HARRIET@Example.TEST", country="gb", currency="gbp"), "k")
    assert accounts.calls[0] == ("create", EMAIL)
    [seen] = billing.forms
    assert (seen.email, seen.country, seen.currency) == (EMAIL, "GB", "GBP")


async def test_without_a_key_each_request_gets_its_own(
    service: SignupService, billing: FakeBilling
) -> None:
    await service.sign_up(form(), None)
    await service.sign_up(form(email="other@example.test"), "")
    keys = [call[2] for call in billing.asked("start")]
    assert all(k.startswith("signup:rq-") for k in keys), keys
    assert keys[0] != keys[1]


@pytest.mark.parametrize(
    ("change", "code"),
    [({"country": "XX"}, "country_not_sold"), ({"currency": "usd"}, "currency_not_sold"),
     ({"plan": "platinum"}, "unknown_plan")],
)  # fmt: skip
async def test_what_is_not_sold_is_refused_before_anyone_is_asked(
    service: SignupService,
    accounts: FakeAccounts,
    billing: FakeBilling,
    change: dict[str, Any],
    code: str,
) -> None:
    with pytest.raises(BadRequestError) as refused:
        await service.sign_up(form(**change), "k")
    assert refused.value.code == code
    assert (accounts.calls, billing.calls) == ([], [])


async def test_the_visitors_address_reaches_accounts_for_its_throttle(
    service: SignupService, accounts: FakeAccounts
) -> None:
    await service.sign_up(form(), "k", client_address="127.10.0.9")
    assert accounts.addresses == ["127.10.0.9"]


async def test_a_refusal_from_accounts_never_reaches_billing(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    await service.sign_up(form(), "k")
    with pytest.raises(ConflictError) as refused:
        await service.sign_up(form(password="another password"), "k2")
    assert refused.value.code == "email_taken"
    assert len(billing.asked("start")) == 1  # the first sign-up's only
    assert accounts.called("delete_pending") == []


async def test_a_refusal_from_billing_deletes_the_member_this_request_made(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = ConflictError("trial used", code="trial_already_used")
    with pytest.raises(ConflictError) as refused:
        await service.sign_up(form(trial="required"), "k")
    assert (refused.value.status, refused.value.code) == (409, "trial_already_used")
    [(_, member_id, _)] = billing.asked("start")
    assert accounts.called("delete_pending") == [member_id]
    assert accounts.status_of(EMAIL) is None


async def test_a_refusal_never_deletes_a_resumed_member_whose_charge_may_be_in_flight(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = UnavailableError("billing away")
    with pytest.raises(UnavailableError):
        await service.sign_up(form(), "k")
    billing.answers["start"] = BadRequestError("card refused", code="invalid_card")
    with pytest.raises(BadRequestError) as refused:
        await service.sign_up(form(), "k")  # the same sign-up again: resumed
    assert refused.value.code == "invalid_card"
    assert accounts.status_of(EMAIL) == "pending"
    assert accounts.called("delete_pending") == []


async def test_billing_away_is_a_503_that_undoes_nothing(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = UnavailableError("billing away")
    with pytest.raises(UnavailableError) as away:
        await service.sign_up(form(), "k")
    assert away.value.status == 503
    # The charge may have gone through: the same request again resumes this member.
    assert accounts.status_of(EMAIL) == "pending"
    assert (accounts.called("delete_pending"), accounts.called("activate")) == ([], [])
    assert billing.asked("cancel") == []


async def test_a_declined_card_is_a_402_and_leaves_neither_member_nor_subscription(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = answer("incomplete", "declined", "Your card has insufficient funds.")
    with pytest.raises(PaymentRequiredError) as refused:
        await service.sign_up(form(trial="none"), "k")
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        402, "card_declined", "Your card has insufficient funds.",
    )  # fmt: skip
    [(_, member_id, _)] = billing.asked("start")
    assert billing.asked("cancel") == [("cancel", member_id, "signup-declined:k")]
    assert accounts.called("delete_pending") == [member_id]
    assert accounts.status_of(EMAIL) is None
    assert accounts.called("activate") == []


async def test_a_decline_still_answers_402_when_the_undoing_cannot_reach_billing(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = answer("incomplete", "declined")
    billing.answers["cancel"] = UnavailableError("billing away")
    with pytest.raises(PaymentRequiredError) as refused:
        await service.sign_up(form(trial="none"), "k")
    assert refused.value.code == "card_declined"
    assert "declined" in refused.value.message  # a message for people even when none came
    # The subscription was not cancelled, so the member is kept: signing up again resumes it.
    assert accounts.called("delete_pending") == []
    assert accounts.status_of(EMAIL) == "pending"


async def test_a_decline_still_answers_402_when_the_undoing_cannot_reach_accounts(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = answer("incomplete", "declined", "Do not honour.")
    accounts.failing["delete_pending"] = UnavailableError("accounts away")
    with pytest.raises(PaymentRequiredError) as refused:
        await service.sign_up(form(trial="none"), "k")
    assert (refused.value.code, refused.value.message) == ("card_declined", "Do not honour.")
    assert len(billing.asked("cancel")) == 1
    assert accounts.status_of(EMAIL) == "pending"


@pytest.mark.parametrize(
    ("paid", "status"), [("requires_action", "requires_action"), ("pending", "pending")]
)
async def test_an_unfinished_payment_leaves_the_member_pending(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling, paid: str, status: str
) -> None:
    billing.answers["start"] = answer("incomplete", paid)
    joined = await service.sign_up(form(trial="none"), "k")
    assert (joined.status, joined.member.status) == (status, "pending")
    assert joined.payment is not None
    assert joined.payment.status == paid  # the client needs it for the bank's second step
    assert accounts.status_of(EMAIL) == "pending"
    assert accounts.called("activate") == []
    assert (accounts.called("delete_pending"), billing.asked("cancel")) == ([], [])


async def test_a_resumed_sign_up_that_billing_already_started_is_finished(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = UnavailableError("the answer was lost")
    with pytest.raises(UnavailableError):
        await service.sign_up(form(), "first")
    billing.answers["start"] = ConflictError("subscribed", code="already_subscribed")
    billing.current = subscription("trialing", trial_ends_at=1_900_000_000)
    joined = await service.sign_up(form(), "second")  # another key: billing refuses it
    assert (joined.status, joined.subscription.status, joined.trial) == ("active", "trialing", True)
    assert accounts.status_of(EMAIL) == "active"
    assert accounts.called("delete_pending") == []


async def test_a_resumed_sign_up_refused_as_subscribed_with_no_subscription_is_passed_on(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = UnavailableError("the answer was lost")
    with pytest.raises(UnavailableError):
        await service.sign_up(form(), "first")
    billing.answers["start"] = ConflictError("subscribed", code="already_subscribed")
    with pytest.raises(ConflictError) as refused:
        await service.sign_up(form(), "second")
    assert refused.value.code == "already_subscribed"
    assert accounts.status_of(EMAIL) == "pending"


async def test_already_subscribed_for_a_new_member_is_passed_on(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = ConflictError("subscribed", code="already_subscribed")
    billing.current = subscription("active")
    with pytest.raises(ConflictError):
        await service.sign_up(form(), "k")
    assert billing.asked("subscription") == []  # only a resumed sign-up may have finished
    assert accounts.status_of(EMAIL) is None


async def test_accounts_away_after_payment_keeps_the_sign_up_pending(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    billing.answers["start"] = answer("active", "succeeded")
    accounts.failing["activate"] = UnavailableError("accounts away")
    joined = await service.sign_up(form(trial="none"), "k")
    # Paid: billing's subscription.started activates the member later, so this stands.
    assert (joined.status, joined.member.status) == ("pending", "pending")
    assert joined.payment is not None
    assert joined.payment.status == "succeeded"
    assert (accounts.called("delete_pending"), billing.asked("cancel")) == ([], [])


async def test_a_replayed_sign_up_answers_as_the_first_did(
    service: SignupService, billing: FakeBilling
) -> None:
    billing.answers["start"] = answer("active", "succeeded")
    first = await service.sign_up(form(trial="none"), "same")
    again = await service.sign_up(form(trial="none"), "same")
    assert again.member.id == first.member.id
    assert again.status == "active"
    assert {call[2] for call in billing.asked("start")} == {"signup:same"}


# ---- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["x" * (MAX_KEY + 1), "with space", "semi;colon", "ünï", "a/b"])
async def test_a_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(BadRequestError) as refused:
        checked_key(key)
    assert (refused.value.status, refused.value.code) == (400, "bad_idempotency_key")


async def test_a_well_formed_key_is_kept() -> None:
    longest = ("Az09_.:-" * 16)[:MAX_KEY]
    assert checked_key(longest) == longest


@pytest.mark.parametrize("header", [None, ""])
async def test_no_key_is_made_a_fresh_one(header: str | None) -> None:
    made = [checked_key(header), checked_key(header)]
    assert all(key.startswith("rq-") for key in made), made
    assert made[0] != made[1]
    assert checked_key(made[0]) == made[0]  # one billing and the API itself accept


async def test_a_malformed_key_is_refused_before_anyone_is_asked(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling
) -> None:
    with pytest.raises(BadRequestError):
        await service.sign_up(form(), "no spaces allowed")
    assert (accounts.calls, billing.calls) == ([], [])


# ---- a member's account -------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        lambda s, c: s.account(c),
        lambda s, c: s.invoices(c),
        lambda s, c: s.change_plan(c, "premium", None),
        lambda s, c: s.cancel(c, None),
        lambda s, c: s.rejoin(c, None, None, None),
        lambda s, c: s.update_payment_method(c, CARD, None),
        lambda s, c: s.confirm_payment(c, "pay_1"),
    ],
)
async def test_every_account_action_checks_the_session_before_billing(
    service: SignupService,
    accounts: FakeAccounts,
    billing: FakeBilling,
    member: Caller,
    action: Action,
) -> None:
    accounts.sessions_valid = False
    with pytest.raises(UnauthenticatedError):
        await action(service, member)
    assert billing.calls == []


async def test_the_account_is_the_member_and_their_subscription(
    service: SignupService, billing: FakeBilling, member: Caller
) -> None:
    billing.current = subscription("trialing")
    account = await service.account(member)
    assert (account.member.id, account.member.status) == (member.member_id, "active")
    assert account.subscription == billing.current


async def test_an_actions_key_goes_to_billing_as_the_client_gave_it(
    service: SignupService, billing: FakeBilling, member: Caller
) -> None:
    await service.change_plan(member, "premium", "plan-1")
    await service.cancel(member, None)
    [(_, _, given)] = billing.asked("change_plan")
    [(_, _, made)] = billing.asked("cancel")
    assert (given, made[:3]) == ("plan-1", "rq-")


def _payments(caller: Caller) -> dict[str, Callable[[SignupService], Awaitable[AccountChange]]]:
    return {
        "rejoin": lambda s: s.rejoin(caller, None, None, None),
        "update_payment_method": lambda s: s.update_payment_method(caller, CARD, None),
        "confirm_payment": lambda s: s.confirm_payment(caller, "pay_1"),
    }


@pytest.mark.parametrize("method", ["rejoin", "update_payment_method", "confirm_payment"])
async def test_a_payment_that_makes_the_subscription_live_activates_a_pending_member(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling, method: str
) -> None:
    billing.answers["start"] = answer("incomplete", "requires_action")
    joined = await service.sign_up(form(email="sam@example.test", trial="none"), "k2")
    pay = _payments(Caller(joined.member.id, "s-2"))[method]
    billing.answers[method] = answer("on_hold", "requires_action")
    await pay(service)
    assert accounts.status_of("sam@example.test") == "pending"  # not live: left as it is
    assert accounts.called("activate") == []
    billing.answers[method] = answer("active", "succeeded")
    change = await pay(service)
    assert change.subscription.status == "active"
    assert accounts.status_of("sam@example.test") == "active"


@pytest.mark.parametrize("live", ["trialing", "past_due"])
async def test_every_live_status_activates_after_a_payment(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling, live: str
) -> None:
    billing.answers["start"] = answer("incomplete", "requires_action")
    joined = await service.sign_up(form(trial="none"), "k")
    billing.answers["confirm_payment"] = answer(live, "succeeded")
    await service.confirm_payment(Caller(joined.member.id, "s-1"), "pay_1")
    assert accounts.status_of(EMAIL) == "active"


async def test_accounts_away_after_a_payment_still_answers_the_change(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling, member: Caller
) -> None:
    accounts.failing["activate"] = UnavailableError("accounts away")
    billing.answers["update_payment_method"] = answer("active", "succeeded")
    change = await service.update_payment_method(member, CARD, None)
    assert change.payment is not None
    assert change.payment.status == "succeeded"


@pytest.mark.parametrize("method", ["change_plan", "rejoin", "update_payment_method"])
async def test_a_declined_payment_of_an_action_is_a_402(
    service: SignupService, accounts: FakeAccounts, billing: FakeBilling, method: str
) -> None:
    billing.answers["start"] = answer("incomplete", "requires_action")
    joined = await service.sign_up(form(trial="none"), "k")
    caller = Caller(joined.member.id, "s-1")
    actions: dict[str, Callable[[], Awaitable[AccountChange]]] = {
        "change_plan": lambda: service.change_plan(caller, "premium", "k-plan"),
        "rejoin": lambda: service.rejoin(caller, None, None, "k-rejoin"),
        "update_payment_method": lambda: service.update_payment_method(caller, CARD, "k-card"),
    }
    # Billing's subscription may still read live (a proration declined leaves the plan as it
    # was): the decline, not the status, is the answer, and nobody is activated on it.
    billing.answers[method] = answer("active", "declined", "Your card was stolen.")
    with pytest.raises(PaymentRequiredError) as refused:
        await actions[method]()
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        402, "card_declined", "Your card was stolen.",
    )  # fmt: skip
    assert accounts.called("activate") == []
    assert accounts.status_of(EMAIL) == "pending"


async def test_a_bad_key_on_an_action_is_refused_before_billing(
    service: SignupService, billing: FakeBilling, member: Caller
) -> None:
    with pytest.raises(BadRequestError) as refused:
        await service.cancel(member, "no spaces allowed")
    assert refused.value.code == "bad_idempotency_key"
    assert billing.asked("cancel") == []


async def test_plans_are_asked_for_the_upper_case_country_and_unsold_ones_refused(
    service: SignupService, billing: FakeBilling
) -> None:
    assert (await service.plans("gb")).country == "GB"
    with pytest.raises(BadRequestError) as refused:
        await service.plans("xx")
    assert refused.value.code == "country_not_sold"
    assert billing.asked("plans") == [("plans", "GB")]
