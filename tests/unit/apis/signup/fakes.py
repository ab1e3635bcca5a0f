"""Test data and fake dependencies for the sign-up API's unit tests: an accounts that keeps
members as accounts does (pending until activated, resumed by their password), and a billing
that answers, or fails, as it is told; both record what they were asked."""

from __future__ import annotations

from typing import Any

from reelcloud.apis.signup.models import (
    CardForm,
    Invoice,
    Money,
    Payment,
    Plans,
    SignupForm,
    Subscription,
)
from reelcloud.apis.signup.store import BillingAnswer, CreatedMember
from reelcloud.platform.errors import ConflictError, UnauthenticatedError
from reelcloud.platform.members import MemberView, PlanView
from reelcloud.services.billing.requests import checked_key as billing_checked_key

CARD = CardForm(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
GBP = Money(amount_minor=0, currency="GBP", display="0.00 GBP")
EMAIL = "harriet@example.test"  # form()'s email, as accounts and billing should see it


def form(**change: Any) -> SignupForm:
    fields: dict[str, Any] = {
        "email": "Harriet@Example.test", "password": "correct horse", "name": "Harriet",
        "country": "gb", "plan": "standard", "card": CARD,
    }  # fmt: skip
    return SignupForm(**(fields | change))


def subscription(status: str, trial_ends_at: int = 0) -> Subscription:
    return Subscription(
        id="sub_1", plan="standard", pending_plan="", status=status, country="GB",
        currency="GBP", trial_ends_at=trial_ends_at, period_start=0, period_end=0,
        cancel_at_period_end=False, next_bill_at=0, next_bill=None, payment_method=None,
        balance_due=GBP, retry_at=0, open_invoice_id="",
    )  # fmt: skip


def payment(status: str, message: str = "") -> Payment:
    return Payment(
        id="pay_1", invoice_id="in_1", status=status, decline_code="", amount=GBP, message=message
    )


def answer(status: str, paid: str | None = None, message: str = "") -> BillingAnswer:
    """Billing's answer: a subscription in `status`, and a payment in `paid` (None: a trial)."""
    return BillingAnswer(
        subscription=subscription(status),
        payment=None if paid is None else payment(paid, message),
        trial=paid is None,
    )


class FakeAccounts:
    """Members by email; pending until activated; a sign-up resumes a pending member (or one
    made by the same key) when the password is its own, else 409 email_taken, as accounts
    does. `failing[method]` is raised by that method; `sessions_valid = False` makes every
    session check refuse."""

    def __init__(self) -> None:
        self.members: dict[str, tuple[MemberView, str, str]] = {}  # email -> member, pw, key
        self.calls: list[tuple[str, str]] = []
        self.addresses: list[str] = []
        self.made = 0
        self.failing: dict[str, Exception] = {}
        self.sessions_valid = True

    def _fail(self, method: str) -> None:
        if method in self.failing:
            raise self.failing[method]

    async def create(self, form: SignupForm, key: str, client_address: str) -> CreatedMember:
        self.calls.append(("create", form.email))
        self.addresses.append(client_address)
        self._fail("create")
        found = self.members.get(form.email)
        resumed = False
        if found is not None:
            member, password, first_key = found
            if password != form.password or (member.status != "pending" and first_key != key):
                raise ConflictError("that email already has an account", code="email_taken")
            resumed = True
        else:
            self.made += 1
            plan = PlanView(name=form.plan, max_height=1080, max_streams=2)
            member = MemberView(
                id=f"m-{self.made}", email=form.email, name=form.name,
                country=form.country, plan=plan, status="pending",
            )  # fmt: skip
            self.members[form.email] = (member, form.password, key)
        return CreatedMember(member, [], [], "token", 1, resumed)

    def _by_id(self, member_id: str) -> tuple[MemberView, str, str]:
        found = next((m for m in self.members.values() if m[0].id == member_id), None)
        assert found is not None, f"accounts has no member {member_id}"
        return found

    async def activate(self, member_id: str) -> MemberView:
        self.calls.append(("activate", member_id))
        self._fail("activate")
        member, password, key = self._by_id(member_id)
        if member.status == "pending":
            member = member.model_copy(update={"status": "active"})
            self.members[member.email] = (member, password, key)
        return member

    async def delete_pending(self, member_id: str) -> bool:
        self.calls.append(("delete_pending", member_id))
        self._fail("delete_pending")
        member = self._by_id(member_id)[0]
        if member.status != "pending":
            return False
        del self.members[member.email]
        return True

    async def member(self, member_id: str, session_id: str) -> MemberView:
        self.calls.append(("member", member_id))
        if not self.sessions_valid:
            raise UnauthenticatedError("that session was revoked", code="session_revoked")
        return self._by_id(member_id)[0]

    def called(self, method: str) -> list[str]:
        """The member ids `method` was called with, in order."""
        return [member_id for name, member_id in self.calls if name == method]

    def status_of(self, email: str) -> str | None:
        found = self.members.get(email)
        return None if found is None else found[0].status


class FakeBilling:
    """Billing that gives the answer (or raises the error) it is told, per method: an active
    subscription unless told otherwise. It refuses keys billing refuses, with billing's own
    check, so a key the API makes but billing would not take fails here too."""

    def __init__(self) -> None:
        self.answers: dict[str, BillingAnswer | Exception] = {}
        self.calls: list[tuple[str, ...]] = []  # (method, member_id, what identifies it)
        self.forms: list[SignupForm] = []  # as start() received them
        self.current: Subscription | None = None  # what subscription() finds

    def _answer(self, method: str, member_id: str, key: str) -> BillingAnswer:
        self.calls.append((method, member_id, key))
        billing_checked_key(key)
        found = self.answers.get(method, answer("active"))
        if isinstance(found, Exception):
            raise found
        return found

    async def plans(self, country: str) -> Plans:
        self.calls.append(("plans", country))
        return Plans(country=country, currency="GBP", trial_days=30, plans=[])

    async def start(self, member_id: str, form: SignupForm, key: str) -> BillingAnswer:
        self.forms.append(form)
        return self._answer("start", member_id, key)

    async def subscription(self, member_id: str) -> Subscription | None:
        self.calls.append(("subscription", member_id))
        return self.current

    async def invoices(self, member_id: str) -> list[Invoice]:
        self.calls.append(("invoices", member_id))
        return []

    async def change_plan(self, member_id: str, plan: str, key: str) -> BillingAnswer:
        return self._answer("change_plan", member_id, key)

    async def cancel(self, member_id: str, key: str) -> BillingAnswer:
        return self._answer("cancel", member_id, key)

    async def rejoin(
        self, member_id: str, plan: str | None, card: CardForm | None, key: str
    ) -> BillingAnswer:
        return self._answer("rejoin", member_id, key)

    async def update_payment_method(
        self, member_id: str, card: CardForm, key: str
    ) -> BillingAnswer:
        return self._answer("update_payment_method", member_id, key)

    async def confirm_payment(self, member_id: str, payment_id: str) -> BillingAnswer:
        return self._answer("confirm_payment", member_id, "")

    def asked(self, method: str) -> list[tuple[str, ...]]:
        return [call for call in self.calls if call[0] == method]
