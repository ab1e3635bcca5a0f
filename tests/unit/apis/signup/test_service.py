"""The sign-up saga's rules, over a fake accounts and a fake billing that answer as told and
record what they were asked: what each outcome of billing leaves behind, what is undone, what
keys billing is sent, and that an account action checks the session before billing is asked."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import pytest_asyncio

from reelcloud.apis.signup.models import (
    CardForm,
    Invoice,
    Money,
    Payment,
    Plans,
    SignupForm,
    Subscription,
)
from reelcloud.apis.signup.service import Caller, SignupService, checked_key
from reelcloud.apis.signup.store import BillingAnswer, CreatedMember
from reelcloud.platform.errors import (
    BadRequestError,
    ConflictError,
    PaymentRequiredError,
    UnauthenticatedError,
    UnavailableError,
)
from reelcloud.platform.members import MemberView, PlanView

pytestmark = pytest.mark.asyncio

CARD = CardForm(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
GBP = Money(amount_minor=0, currency="GBP", display="0.00 GBP")


def form(**change: Any) -> SignupForm:
    fields: dict[str, Any] = {
        "email": "Harriet@Example.test", "password": "correct horse", "name": "Harriet",
        "country": "gb", "plan": "standard", "card": CARD,
    }  # fmt: skip
    return SignupForm(**(fields | change))


def subscription(status: str) -> Subscription:
    return Subscription(
        id="sub_1", plan="standard", pending_plan="", status=status, country="GB",
        currency="GBP", trial_ends_at=0, period_start=0, period_end=0,
        cancel_at_period_end=False, next_bill_at=0, next_bill=None, payment_method=None,
        balance_due=GBP, retry_at=0, open_invoice_id="",
    )  # fmt: skip


def payment(status: str, message: str = "") -> Payment:
    return Payment(
        id="pay_1", invoice_id="in_1", status=status, decline_code="", amount=GBP, message=message
    )


def answer(status: str, paid: str | None = None, message: str = "") -> BillingAnswer:
    return BillingAnswer(
        subscription=subscription(status),
        payment=None if paid is None else payment(paid, message),
        trial=paid is None,
    )


class FakeAccounts:
    """Members by email; pending until activated; a sign-up resumes a pending member (or one
    made by the same key) when the password is its own, as accounts does."""

    def __init__(self) -> None:
        self.members: dict[str, tuple[MemberView, str, str]] = {}  # email -> member, pw, key
        self.calls: list[tuple[str, str]] = []
        self.failing: dict[str, Exception] = {}
        self.sessions_valid = True

    def _fail(self, method: str) -> None:
        if method in self.failing:
            raise self.failing[method]

    async def create(self, form: SignupForm, key: str, client_address: str) -> CreatedMember:
        self.calls.append(("create", form.email))
        self._fail("create")
        found = self.members.get(form.email)
        resumed = False
        if found is not None:
            member, password, first_key = found
            if password != form.password or (member.status != "pending" and first_key != key):
                raise ConflictError("that email already has an account", code="email_taken")
            resumed = True
        else:
            plan = PlanView(name=form.plan, max_height=1080, max_streams=2)
            member = MemberView(
                id=f"m-{len(self.members)}", email=form.email, name=form.name,
                country=form.country, plan=plan, status="pending",
            )  # fmt: skip
            self.members[form.email] = (member, form.password, key)
        return CreatedMember(member, [], [], "token", 1, resumed)

    def _by_id(self, member_id: str) -> tuple[MemberView, str, str] | None:
        return next((m for m in self.members.values() if m[0].id == member_id), None)

    async def activate(self, member_id: str) -> MemberView:
        self.calls.append(("activate", member_id))
        self._fail("activate")
        member, password, key = self._by_id(member_id) or (None, "", "")
        assert member is not None
        if member.status == "pending":
            member = member.model_copy(update={"status": "active"})
            self.members[member.email] = (member, password, key)
        return member

    async def delete_pending(self, member_id: str) -> bool:
        self.calls.append(("delete_pending", member_id))
        self._fail("delete_pending")
        found = self._by_id(member_id)
        if found is None or found[0].status != "pending":
            return False
        del self.members[found[0].email]
        return True

    async def member(self, member_id: str, session_id: str) -> MemberView:
        self.calls.append(("member", member_id))
        if not self.sessions_valid:
            raise UnauthenticatedError("that session was revoked", code="session_revoked")
        found = self._by_id(member_id)
        assert found is not None
        return found[0]

    def status_of(self, email: str) -> str | None:
        found = self.members.get(email)
        return None if found is None else found[0].status


@dataclasses.dataclass
class FakeBilling:
    """Billing that gives the answer (or raises the error) it is told, per method."""

    answers: dict[str, BillingAnswer | Exception] = dataclasses.field(default_factory=dict)
    calls: list[tuple[str, ...]] = dataclasses.field(default_factory=list)
    current: Subscription | None = None

    def _answer(self, method: str, *args: str) -> BillingAnswer:
        self.calls.append((method, *args))
        found = self.answers.get(method, answer("active"))
        if isinstance(found, Exception):
            raise found
        return found

    async def plans(self, country: str) -> Plans:
        self.calls.append(("plans", country))
        return Plans(country=country, currency="GBP", trial_days=30, plans=[])

    async def start(self, member_id: str, form: SignupForm, key: str) -> BillingAnswer:
        self.calls.append(("form", form.email, form.country, form.currency or ""))
        return self._answer("start", member_id, key)

    async def subscription(self, member_id: str) -> Subscription | None:
        self.calls.append(("subscription", member_id))
        return self.current

    async def invoices(self, member_id: str) -> list[Invoice]:
        self.calls.append(("invoices", member_id))
        return []

    async def change_plan(self, member_id: str, plan: str, key: str) -> BillingAnswer:
        return self._answer("change_plan", member_id, plan)

    async def cancel(self, member_id: str, key: str) -> BillingAnswer:
        return self._answer("cancel", member_id, key)

    async def rejoin(
        self, member_id: str, plan: str | None, card: CardForm | None, key: str
    ) -> BillingAnswer:
        return self._answer("rejoin", member_id)

    async def update_payment_method(
        self, member_id: str, card: CardForm, key: str
    ) -> BillingAnswer:
        return self._answer("update_payment_method", member_id)

    async def confirm_payment(self, member_id: str, payment_id: str) -> BillingAnswer:
        return self._answer("confirm_payment", member_id, payment_id)

    def asked(self, method: str) -> list[tuple[str, ...]]:
        return [call for call in self.calls if call[0] == method]


@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts()


@pytest.fixture
def billing() -> FakeBilling:
    return FakeBilling()


@pytest.fixture
def service(accounts: FakeAccounts, billing: FakeBilling) -> SignupService:
    return SignupService(accounts, billing)


EMAIL = "harriet@example.test"


# ---- joining ----------------------------------------------------------------------------------


async def test_a_trial_sign_up_activates_the_member_and_keys_billing_by_the_clients_key(
    service, accounts, billing
):
    billing.answers["start"] = answer("trialing")
    joined = await service.sign_up(form(), "client-key-1")
    assert (joined.status, joined.trial, joined.member.status) == ("active", True, "active")
    [(_, member_id, key)] = billing.asked("start")
    assert (member_id, key) == (joined.member.id, "signup:client-key-1")
    assert accounts.status_of(EMAIL) == "active"
    # Billing and accounts saw the form normalised: lower-case email, upper-case country.
    assert billing.asked("form") == [("form", EMAIL, "GB", "")]
    assert accounts.calls[0] == ("create", EMAIL)


async def test_without_a_key_each_request_gets_its_own(service, billing):
    await service.sign_up(form(), None)
    await service.sign_up(form(email="other@example.test"), "")
    keys = [call[2] for call in billing.asked("start")]
    assert all(k.startswith("signup:rq-") for k in keys)
    assert keys[0] != keys[1]


@pytest.mark.parametrize(
    ("change", "code"),
    [({"country": "XX"}, "country_not_sold"), ({"currency": "usd"}, "currency_not_sold"),
     ({"plan": "platinum"}, "unknown_plan")],
)  # fmt: skip
async def test_what_is_not_sold_is_refused_before_anyone_is_asked(
    service, accounts, billing, change, code
):
    with pytest.raises(BadRequestError) as refused:
        await service.sign_up(form(**change), "k")
    assert refused.value.code == code
    assert (accounts.calls, billing.calls) == ([], [])


async def test_a_currency_given_in_lower_case_is_the_countrys(service, billing):
    await service.sign_up(form(currency="gbp"), "k")
    assert billing.asked("form") == [("form", EMAIL, "GB", "GBP")]


async def test_a_refusal_from_billing_deletes_the_member_this_request_made(
    service, accounts, billing
):
    billing.answers["start"] = ConflictError("trial used", code="trial_already_used")
    with pytest.raises(ConflictError) as refused:
        await service.sign_up(form(trial="required"), "k")
    assert refused.value.code == "trial_already_used"
    assert accounts.status_of(EMAIL) is None
    assert ("delete_pending", "m-0") in accounts.calls


async def test_a_refusal_never_deletes_a_resumed_member_whose_charge_may_be_in_flight(
    service, accounts, billing
):
    billing.answers["start"] = UnavailableError("billing away")
    with pytest.raises(UnavailableError):
        await service.sign_up(form(), "k")
    assert accounts.status_of(EMAIL) == "pending"  # the outcome is unknown: nothing undone
    billing.answers["start"] = BadRequestError("card refused", code="invalid_card")
    with pytest.raises(BadRequestError):
        await service.sign_up(form(), "k")  # the same sign-up again: resumed
    assert accounts.status_of(EMAIL) == "pending"
    assert not [call for call in accounts.calls if call[0] == "delete_pending"]


async def test_a_declined_card_is_a_402_and_leaves_neither_member_nor_subscription(
    service, accounts, billing
):
    billing.answers["start"] = answer("incomplete", "declined", "Your card has insufficient funds.")
    with pytest.raises(PaymentRequiredError) as refused:
        await service.sign_up(form(trial="none"), "k")
    assert (refused.value.code, refused.value.message) == (
        "card_declined", "Your card has insufficient funds.",
    )  # fmt: skip
    assert billing.asked("cancel") == [("cancel", "m-0", "signup-declined:k")]
    assert accounts.status_of(EMAIL) is None


async def test_a_decline_still_answers_402_when_the_undoing_cannot_reach_billing(
    service, accounts, billing
):
    billing.answers["start"] = answer("incomplete", "declined")
    billing.answers["cancel"] = UnavailableError("billing away")
    with pytest.raises(PaymentRequiredError) as refused:
        await service.sign_up(form(trial="none"), "k")
    assert "declined" in refused.value.message  # a message for people even when none came
    assert accounts.status_of(EMAIL) == "pending"  # resumed by signing up again


@pytest.mark.parametrize(("paid", "status"), [("requires_action", "requires_action"),
                                              ("pending", "pending")])  # fmt: skip
async def test_an_unfinished_payment_leaves_the_member_pending(
    service, accounts, billing, paid, status
):
    billing.answers["start"] = answer("incomplete", paid)
    joined = await service.sign_up(form(trial="none"), "k")
    assert (joined.status, joined.member.status) == (status, "pending")
    assert accounts.status_of(EMAIL) == "pending"
    assert ("activate", joined.member.id) not in accounts.calls


async def test_a_resumed_sign_up_that_billing_already_started_is_finished(
    service, accounts, billing
):
    billing.answers["start"] = UnavailableError("the answer was lost")
    with pytest.raises(UnavailableError):
        await service.sign_up(form(), "first")
    billing.answers["start"] = ConflictError("subscribed", code="already_subscribed")
    billing.current = subscription("trialing")
    joined = await service.sign_up(form(), "second")  # another key: billing refuses it
    assert (joined.status, joined.subscription.status) == ("active", "trialing")
    assert accounts.status_of(EMAIL) == "active"


async def test_already_subscribed_for_a_new_member_is_passed_on(service, accounts, billing):
    billing.answers["start"] = ConflictError("subscribed", code="already_subscribed")
    with pytest.raises(ConflictError):
        await service.sign_up(form(), "k")
    assert accounts.status_of(EMAIL) is None


async def test_accounts_away_after_payment_keeps_the_sign_up_pending(service, accounts, billing):
    billing.answers["start"] = answer("active", "succeeded")
    accounts.failing["activate"] = UnavailableError("accounts away")
    joined = await service.sign_up(form(trial="none"), "k")
    # Paid: billing's subscription.started activates the member later, so this stands.
    assert (joined.status, joined.member.status) == ("pending", "pending")
    assert joined.payment is not None
    assert joined.payment.status == "succeeded"


async def test_a_replayed_sign_up_answers_as_the_first_did(service, accounts, billing):
    billing.answers["start"] = answer("active", "succeeded")
    first = await service.sign_up(form(trial="none"), "same")
    again = await service.sign_up(form(trial="none"), "same")
    assert again.member.id == first.member.id
    assert again.status == "active"
    assert {call[2] for call in billing.asked("start")} == {"signup:same"}


# ---- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["x" * 129, "with space", "semi;colon", "ünï"])
async def test_a_malformed_key_is_refused(key):
    with pytest.raises(BadRequestError) as refused:
        checked_key(key)
    assert refused.value.code == "bad_idempotency_key"


async def test_a_well_formed_key_is_kept_and_none_is_made_fresh():
    assert checked_key("Az09_.:-" * 16) == "Az09_.:-" * 16
    assert checked_key(None) != checked_key(None)


# ---- a member's account -------------------------------------------------------------------


@pytest_asyncio.fixture
async def member(service, billing) -> Caller:
    billing.answers["start"] = answer("trialing")
    joined = await service.sign_up(form(), "k")
    billing.calls.clear()
    return Caller(joined.member.id, "s-1")


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
    service, accounts, billing, member, action
):
    accounts.sessions_valid = False
    with pytest.raises(UnauthenticatedError):
        await action(service, member)
    assert billing.calls == []


@pytest.mark.parametrize("method", ["rejoin", "update_payment_method", "confirm_payment"])
async def test_a_payment_that_makes_the_subscription_live_activates_a_pending_member(
    service, accounts, billing, method
):
    billing.answers["start"] = answer("incomplete", "requires_action")
    joined = await service.sign_up(form(email="sam@example.test", trial="none"), "k2")
    caller = Caller(joined.member.id, "s-2")
    actions = {
        "rejoin": lambda: service.rejoin(caller, None, None, None),
        "update_payment_method": lambda: service.update_payment_method(caller, CARD, None),
        "confirm_payment": lambda: service.confirm_payment(caller, "pay_1"),
    }
    billing.answers[method] = answer("on_hold", "requires_action")
    await actions[method]()
    assert accounts.status_of("sam@example.test") == "pending"  # not live: left as it is
    billing.answers[method] = answer("active", "succeeded")
    change = await actions[method]()
    assert change.subscription.status == "active"
    assert accounts.status_of("sam@example.test") == "active"


async def test_accounts_away_after_a_payment_still_answers_the_change(
    service, accounts, billing, member
):
    accounts.failing["activate"] = UnavailableError("accounts away")
    billing.answers["update_payment_method"] = answer("active", "succeeded")
    change = await service.update_payment_method(member, CARD, None)
    assert change.payment is not None
    assert change.payment.status == "succeeded"


@pytest.mark.parametrize("method", ["change_plan", "rejoin", "update_payment_method"])
async def test_a_declined_payment_of_an_action_is_a_402(service, billing, member, method):
    billing.answers[method] = answer("active", "declined", "Your card was stolen.")
    actions = {
        "change_plan": lambda: service.change_plan(member, "premium", "k-plan"),
        "rejoin": lambda: service.rejoin(member, None, None, "k-rejoin"),
        "update_payment_method": lambda: service.update_payment_method(member, CARD, "k-card"),
    }
    with pytest.raises(PaymentRequiredError) as refused:
        await actions[method]()
    assert (refused.value.code, refused.value.message) == ("card_declined", "Your card was stolen.")


async def test_a_bad_key_on_an_action_is_refused_before_billing(service, billing, member):
    with pytest.raises(BadRequestError):
        await service.cancel(member, "no spaces allowed")
    assert billing.asked("cancel") == []


async def test_plans_are_asked_for_the_upper_case_country_and_unsold_ones_refused(service, billing):
    assert (await service.plans("gb")).country == "GB"
    with pytest.raises(BadRequestError) as refused:
        await service.plans("xx")
    assert refused.value.code == "country_not_sold"
    assert billing.asked("plans") == [("plans", "GB")]
