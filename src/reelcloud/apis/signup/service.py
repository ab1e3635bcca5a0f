"""The sign-up API's rules: a visitor becomes a member in one request, and a member manages
their plan. Orchestration only — accounts holds the member, billing the money — so a sign-up
is a saga of three steps, each safe to repeat:

1. accounts creates the member as *pending* (signed in, but playback refuses it), or resumes
   this email's member when the password is its own and it is pending, or was created by
   this same Idempotency-Key (a retry of a sign-up that finished, its answer lost);
2. billing starts the subscription: a free trial, or the first month charged;
3. accounts activates the member.

What each outcome of step 2 leaves:
- billing refused the request (a 4xx: trial already used, invalid card, ...): nothing was
  charged; a member this request created is deleted, so the refusal changes nothing;
- the card was declined (402): the subscription, still incomplete, is cancelled and the
  pending member deleted: nothing is kept but billing's record of the attempt;
- the bank asks for a second step, or is slow to answer (202): the member stays pending and
  signed in; confirming the payment (or billing, reconciling a slow one) starts the
  subscription, and billing's `subscription.started` activates the member in accounts even
  if this API never hears of it;
- billing could not be asked or did not answer (503): the outcome is unknown, so nothing is
  undone; the same request again (same email, password and Idempotency-Key) resumes the
  member and gets billing's answer to the first attempt, never a second charge.

Every call to billing carries an idempotency key: the client's `Idempotency-Key`, else one
made for this request, so the API's own retries can never charge twice.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Literal, Protocol

from reelcloud.apis.signup.models import (
    Account,
    AccountChange,
    CardForm,
    Invoice,
    Plans,
    SignupAnswer,
    SignupForm,
    Subscription,
)
from reelcloud.apis.signup.store import BillingAnswer, CreatedMember
from reelcloud.platform import pricing
from reelcloud.platform.errors import (
    BadRequestError,
    PaymentRequiredError,
    RequestError,
    UnavailableError,
)
from reelcloud.platform.members import MemberView

log = logging.getLogger(__name__)

SignupStatus = Literal["active", "requires_action", "pending"]
# Billing's subscription states in which the member plays.
LIVE = frozenset({"trialing", "active", "past_due"})
# Billing's keys are the client's scoped by what they are for, and billing takes at most 128
# characters: the client's key leaves room for the longest scope.
SIGNUP_SCOPE = "signup:"
DECLINED_SCOPE = "signup-declined:"
MAX_KEY = 128 - len(DECLINED_SCOPE)
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")


class MemberDirectory(Protocol):
    """Accounts, as `store.Members` calls it (a fake in unit tests)."""

    async def create(self, form: SignupForm, key: str, client_address: str) -> CreatedMember: ...
    async def activate(self, member_id: str) -> MemberView: ...
    async def delete_pending(self, member_id: str) -> bool: ...
    async def member(self, member_id: str, session_id: str) -> MemberView: ...


class SubscriptionBook(Protocol):
    """Billing, as `store.Subscriptions` calls it (a fake in unit tests)."""

    async def plans(self, country: str) -> Plans: ...
    async def start(self, member_id: str, form: SignupForm, key: str) -> BillingAnswer: ...
    async def subscription(self, member_id: str) -> Subscription | None: ...
    async def invoices(self, member_id: str) -> list[Invoice]: ...
    async def change_plan(self, member_id: str, plan: str, key: str) -> BillingAnswer: ...
    async def cancel(self, member_id: str, key: str) -> BillingAnswer: ...
    async def rejoin(
        self, member_id: str, plan: str | None, card: CardForm | None, key: str
    ) -> BillingAnswer: ...
    async def update_payment_method(
        self, member_id: str, card: CardForm, key: str
    ) -> BillingAnswer: ...
    async def confirm_payment(self, member_id: str, payment_id: str) -> BillingAnswer: ...


@dataclass(frozen=True, slots=True)
class Caller:
    member_id: str
    session_id: str


def checked_key(header: str | None) -> str:
    """The client's Idempotency-Key, or a fresh one for this request."""
    if header is None or header == "":
        return f"rq-{secrets.token_hex(12)}"
    if len(header) > MAX_KEY or not set(header) <= _KEY_CHARS:
        raise BadRequestError(
            f"Idempotency-Key must be 1-{MAX_KEY} of A-Z a-z 0-9 _ . : -",
            code="bad_idempotency_key",
        )
    return header


def declined(answer: BillingAnswer) -> PaymentRequiredError | None:
    """The 402 for a payment the card's bank refused."""
    if answer.payment is None or answer.payment.status != "declined":
        return None
    message = answer.payment.message or "Your card was declined: try another card."
    return PaymentRequiredError(message, code="card_declined")


class SignupService:
    def __init__(self, members: MemberDirectory, subscriptions: SubscriptionBook) -> None:
        self.members = members
        self.subscriptions = subscriptions

    async def plans(self, country: str) -> Plans:
        pricing.currency_for(country.upper())  # 400 country_not_sold before asking billing
        return await self.subscriptions.plans(country.upper())

    # ---- joining ------------------------------------------------------------------------------

    async def sign_up(
        self, form: SignupForm, idempotency_key: str | None, client_address: str = "unknown"
    ) -> SignupAnswer:
        key = checked_key(idempotency_key)
        form = form.model_copy(
            update={"country": form.country.upper(), "email": form.email.lower(),
                    "currency": form.currency.upper() if form.currency else None}
        )  # fmt: skip
        # Refused before anything is written: an unknown plan, a country or currency not sold.
        pricing.price(form.country, form.plan, form.currency or "")
        created = await self.members.create(form, key, client_address)
        member_id = created.member.id
        try:
            answer = await self.subscriptions.start(member_id, form, f"{SIGNUP_SCOPE}{key}")
        except RequestError as exc:
            finished = await self._finished_before(created, exc)
            if finished is None:
                if not created.resumed:  # a resumed member may have a charge in flight
                    await self.members.delete_pending(member_id)
                raise
            answer = finished
        refusal = declined(answer)
        if refusal is not None:
            await self._forget(member_id, key)
            raise refusal
        member = created.member
        status: SignupStatus = "pending"
        if answer.subscription.status in LIVE:
            member = await self._activate(created)
            status = "active" if member.status == "active" else "pending"
        elif answer.payment is not None and answer.payment.status == "requires_action":
            status = "requires_action"
        log.info("sign-up of %s: %s (trial %s)", member_id, status, answer.trial)
        return SignupAnswer(
            status=status,
            trial=answer.trial,
            token=created.token,
            expires_at=created.expires_at,
            member=member,
            profiles=created.profiles,
            devices=created.devices,
            subscription=answer.subscription,
            payment=answer.payment,
        )

    async def _finished_before(
        self, created: CreatedMember, refusal: RequestError
    ) -> BillingAnswer | None:
        """A resumed sign-up whose subscription billing already started (the first answer was
        lost, and this retry has another key) is finished: its subscription, as it is."""
        if not created.resumed or refusal.code != "already_subscribed":
            return None
        found = await self.subscriptions.subscription(created.member.id)
        if found is None:
            return None
        return BillingAnswer(subscription=found, payment=None, trial=found.trial_ends_at > 0)

    async def _activate(self, created: CreatedMember) -> MemberView:
        """Step 3. Accounts away: billing's subscription.started activates the member later,
        so the sign-up stands and the member is told it is still pending."""
        try:
            return await self.members.activate(created.member.id)
        except UnavailableError as exc:
            log.warning("member %s paid but is not active yet: %s", created.member.id, exc)
            return created.member

    async def _forget(self, member_id: str, key: str) -> None:
        """A declined sign-up leaves no member: billing's incomplete subscription is cancelled
        (nothing is owed on it) and accounts deletes the pending member. Either away: the
        member stays pending, and signing up again with the same password resumes it."""
        try:
            await self.subscriptions.cancel(member_id, f"{DECLINED_SCOPE}{key}")
            await self.members.delete_pending(member_id)
        except (UnavailableError, RequestError) as exc:  # the decline is the answer regardless
            log.warning("declined sign-up of %s left pending: %s", member_id, exc)

    # ---- a member's account -------------------------------------------------------------------

    async def account(self, caller: Caller) -> Account:
        member = await self.members.member(caller.member_id, caller.session_id)
        return Account(member=member, subscription=await self.subscriptions.subscription(member.id))

    async def invoices(self, caller: Caller) -> list[Invoice]:
        await self.members.member(caller.member_id, caller.session_id)
        return await self.subscriptions.invoices(caller.member_id)

    async def change_plan(self, caller: Caller, plan: str, key: str | None) -> AccountChange:
        await self.members.member(caller.member_id, caller.session_id)
        answer = await self.subscriptions.change_plan(caller.member_id, plan, checked_key(key))
        return self._change(answer)

    async def cancel(self, caller: Caller, key: str | None) -> AccountChange:
        await self.members.member(caller.member_id, caller.session_id)
        return self._change(await self.subscriptions.cancel(caller.member_id, checked_key(key)))

    async def rejoin(
        self, caller: Caller, plan: str | None, card: CardForm | None, key: str | None
    ) -> AccountChange:
        await self.members.member(caller.member_id, caller.session_id)
        answer = await self.subscriptions.rejoin(caller.member_id, plan, card, checked_key(key))
        return await self._paid(caller, answer)

    async def update_payment_method(
        self, caller: Caller, card: CardForm, key: str | None
    ) -> AccountChange:
        await self.members.member(caller.member_id, caller.session_id)
        answer = await self.subscriptions.update_payment_method(
            caller.member_id, card, checked_key(key)
        )
        return await self._paid(caller, answer)

    async def confirm_payment(self, caller: Caller, payment_id: str) -> AccountChange:
        await self.members.member(caller.member_id, caller.session_id)
        answer = await self.subscriptions.confirm_payment(caller.member_id, payment_id)
        return await self._paid(caller, answer)

    async def _paid(self, caller: Caller, answer: BillingAnswer) -> AccountChange:
        """After a payment a pending member may have finished signing up: activated now
        rather than when billing's event arrives (a member already active is left as is)."""
        change = self._change(answer)
        if answer.subscription.status in LIVE:
            try:
                await self.members.activate(caller.member_id)
            except UnavailableError as exc:
                log.warning("member %s is activated by billing's event: %s", caller.member_id, exc)
        return change

    @staticmethod
    def _change(answer: BillingAnswer) -> AccountChange:
        refusal = declined(answer)
        if refusal is not None:
            raise refusal
        return AccountChange(subscription=answer.subscription, payment=answer.payment)
