"""Where the sign-up API's data lives: a member in accounts, their money in billing. This
module is the only one that speaks their RPC: each call goes through a `Dependency` (a
resilience command) and comes back as the API's own models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reelcloud.apis.signup.models import (
    CardForm,
    Invoice,
    Money,
    Payment,
    PaymentMethod,
    PlanOffer,
    Plans,
    SignupForm,
    Subscription,
)
from reelcloud.platform import pricing
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.members import Device, MemberView, PlanView, Profile
from reelcloud.platform.rpc.dependency import Dependency
from reelcloud.rpc import accounts_pb2, billing_pb2

_TRIALS = {
    "if_eligible": billing_pb2.TRIAL_IF_ELIGIBLE,
    "required": billing_pb2.TRIAL_REQUIRED,
    "none": billing_pb2.NO_TRIAL,
}


@dataclass(frozen=True, slots=True)
class CreatedMember:
    member: MemberView
    profiles: list[Profile]
    devices: list[Device]
    token: str
    expires_at: int
    resumed: bool  # this email's sign-up (unfinished, or of the same key), continued


@dataclass(frozen=True, slots=True)
class BillingAnswer:
    subscription: Subscription
    payment: Payment | None
    trial: bool


def money(message: Any) -> Money:
    return Money(
        amount_minor=message.amount_minor,
        currency=message.currency,
        display=pricing.display(message.amount_minor, message.currency),
    )


def member_view(message: Any) -> MemberView:
    plan = PlanView(
        name=message.plan, max_height=message.max_height, max_streams=message.max_streams
    )
    return MemberView(
        id=message.id, email=message.email, name=message.name, country=message.country,
        plan=plan, status=message.status,
    )  # fmt: skip


def subscription(message: Any) -> Subscription:
    method = message.payment_method if message.HasField("payment_method") else None
    return Subscription(
        id=message.id, plan=message.plan, pending_plan=message.pending_plan,
        status=message.status, country=message.country, currency=message.currency,
        trial_ends_at=message.trial_ends_at, period_start=message.period_start,
        period_end=message.period_end, cancel_at_period_end=message.cancel_at_period_end,
        next_bill_at=message.next_bill_at,
        next_bill=money(message.next_bill) if message.next_bill_at else None,
        payment_method=None if method is None else PaymentMethod(
            brand=method.brand, last4=method.last4, exp_month=method.exp_month,
            exp_year=method.exp_year,
        ),
        balance_due=money(message.balance_due), retry_at=message.retry_at,
        open_invoice_id=message.open_invoice_id,
    )  # fmt: skip


def payment(message: Any) -> Payment:
    return Payment(
        id=message.id, invoice_id=message.invoice_id, status=message.status,
        decline_code=message.decline_code, amount=money(message.amount), message=message.message,
    )  # fmt: skip


def invoice(message: Any) -> Invoice:
    return Invoice(
        id=message.id, kind=message.kind, plan=message.plan, period_start=message.period_start,
        period_end=message.period_end, amount=money(message.amount), status=message.status,
        refunded=money(message.refunded), issued_at=message.issued_at, paid_at=message.paid_at,
    )  # fmt: skip


def _card(card: CardForm) -> Any:
    return billing_pb2.Card(
        number=card.number, exp_month=card.exp_month, exp_year=card.exp_year, cvc=card.cvc
    )


def _answer(message: Any) -> BillingAnswer:
    return BillingAnswer(
        subscription=subscription(message.subscription),
        payment=payment(message.payment) if message.HasField("payment") else None,
        trial=message.trial,
    )


class Members:
    """Accounts: the member half of a sign-up."""

    def __init__(self, accounts: Dependency) -> None:
        self.accounts = accounts

    async def create(self, form: SignupForm, key: str, client_address: str) -> CreatedMember:
        created = await self.accounts.call(
            "CreateMember",
            accounts_pb2.CreateMemberRequest(
                email=form.email, password=form.password, name=form.name,
                country=form.country, plan=form.plan, signup_key=key,
                client_address=client_address,
            ),
        )  # fmt: skip
        return CreatedMember(
            member=member_view(created.member),
            profiles=[
                Profile(id=p.id, member_id=p.member_id, name=p.name, maturity=p.maturity)
                for p in created.profiles
            ],
            devices=[
                Device(
                    id=d.id, member_id=d.member_id, type=d.type, max_height=d.max_height, drm=d.drm
                )
                for d in created.devices
            ],
            token=created.token,
            expires_at=created.expires_at,
            resumed=created.resumed,
        )

    async def activate(self, member_id: str) -> MemberView:
        request = accounts_pb2.MemberRef(member_id=member_id)
        return member_view(await self.accounts.call("ActivateMember", request))

    async def delete_pending(self, member_id: str) -> bool:
        request = accounts_pb2.MemberRef(member_id=member_id)
        answer = await self.accounts.call("DeletePendingMember", request)
        return bool(answer.deleted)

    async def member(self, member_id: str, session_id: str) -> MemberView:
        request = accounts_pb2.GetMemberRequest(member_id=member_id, session_id=session_id)
        return member_view(await self.accounts.call("GetMember", request))


class Subscriptions:
    """Billing: the money half."""

    def __init__(self, billing: Dependency) -> None:
        self.billing = billing

    async def plans(self, country: str) -> Plans:
        answer = await self.billing.call("ListPlans", billing_pb2.ListPlansRequest(country=country))
        return Plans(
            country=answer.country, currency=answer.currency, trial_days=answer.trial_days,
            plans=[
                PlanOffer(name=p.name, price=money(p.price), max_height=p.max_height,
                          max_streams=p.max_streams)
                for p in answer.plans
            ],
        )  # fmt: skip

    async def start(self, member_id: str, form: SignupForm, key: str) -> BillingAnswer:
        request = billing_pb2.StartSubscriptionRequest(
            member_id=member_id, email=form.email, country=form.country,
            currency=form.currency or "", plan=form.plan, card=_card(form.card),
            trial=_TRIALS[form.trial], idempotency_key=key,
        )  # fmt: skip
        return _answer(await self.billing.call("StartSubscription", request))

    async def subscription(self, member_id: str) -> Subscription | None:
        request = billing_pb2.GetSubscriptionRequest(member_id=member_id)
        try:
            return subscription(await self.billing.call("GetSubscription", request))
        except NotFoundError:
            return None

    async def invoices(self, member_id: str) -> list[Invoice]:
        request = billing_pb2.ListInvoicesRequest(member_id=member_id)
        answer = await self.billing.call("ListInvoices", request)
        return [invoice(i) for i in answer.invoices]

    async def change_plan(self, member_id: str, plan: str, key: str) -> BillingAnswer:
        request = billing_pb2.ChangePlanRequest(member_id=member_id, plan=plan, idempotency_key=key)
        return _answer(await self.billing.call("ChangePlan", request))

    async def cancel(self, member_id: str, key: str) -> BillingAnswer:
        request = billing_pb2.CancelRequest(member_id=member_id, idempotency_key=key)
        return _answer(await self.billing.call("Cancel", request))

    async def rejoin(
        self, member_id: str, plan: str | None, card: CardForm | None, key: str
    ) -> BillingAnswer:
        request = billing_pb2.RejoinRequest(
            member_id=member_id, plan=plan or "", idempotency_key=key,
            card=_card(card) if card is not None else None,
        )  # fmt: skip
        return _answer(await self.billing.call("Rejoin", request))

    async def update_payment_method(
        self, member_id: str, card: CardForm, key: str
    ) -> BillingAnswer:
        request = billing_pb2.UpdatePaymentMethodRequest(
            member_id=member_id, card=_card(card), idempotency_key=key
        )
        return _answer(await self.billing.call("UpdatePaymentMethod", request))

    async def confirm_payment(self, member_id: str, payment_id: str) -> BillingAnswer:
        request = billing_pb2.ConfirmPaymentRequest(member_id=member_id, payment_id=payment_id)
        return _answer(await self.billing.call("ConfirmPayment", request))
