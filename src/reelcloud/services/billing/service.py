"""The billing service: what a member can do with their subscription (start, change plan,
cancel, rejoin, a new card, a second step, refunds) and what they are shown. Framework-free:
the store, the processor and the clock are handed in; the rules are `lifecycle.py`'s.

Every request that may charge follows one pattern: check the request (a 4xx before anything
is written), decide and write its changes with the charge as a pending attempt in one
transaction under the subscription's row lock, send the charge, write its outcome. A request
refused changes nothing. With an idempotency key, a request seen before answers the state of
its first run; the same key with another request is refused (idempotency_key_reused).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from reelcloud.platform import pricing
from reelcloud.platform.clock import Clock
from reelcloud.platform.errors import BadRequestError, ConflictError, NotFoundError
from reelcloud.services.billing import lifecycle
from reelcloud.services.billing.collection import Collector, Processor
from reelcloud.services.billing.models import (
    LIVE,
    OWING,
    Account,
    Answer,
    Attempt,
    AttemptStatus,
    Card,
    Changes,
    Initiator,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Refund,
    RequestKey,
    RunReport,
    Status,
    Subscription,
    Trial,
)
from reelcloud.services.billing.periods import period, utc
from reelcloud.services.billing.renewals import Renewals
from reelcloud.services.billing.requests import (
    ALREADY_SUBSCRIBED,
    DUPLICATES,
    NO_TRIAL,
    TRIAL_IF_ELIGIBLE,
    TRIAL_REQUIRED,
    card_fields,
    checked_card,
    checked_email,
    checked_id,
    checked_key,
    checked_reason,
    processor_key,
    request_hash,
)
from reelcloud.services.billing.store import BillingStore, BillingTransaction, DuplicateRowError

log = logging.getLogger(__name__)

# A request's decision, in its transaction at its time: the changes, the charge, a trial?
Decide = Callable[[BillingTransaction, datetime], Awaitable[tuple[Changes, Attempt | None, bool]]]


class BillingService:
    def __init__(
        self,
        store: BillingStore,
        processor: Processor,
        collector: Collector,
        renewals: Renewals,
        *,
        clock: Clock,
        rules: lifecycle.Rules,
    ) -> None:
        self.store = store
        self.processor = processor
        self.collector = collector
        self.renewals = renewals
        self.clock = clock
        self.rules = rules

    def now(self) -> datetime:
        return utc(self.clock.now())

    # ---- what members are shown -------------------------------------------------------------

    def plans(self, country: str) -> list[pricing.Price]:
        return pricing.prices(country.upper())

    async def trial_eligible(self, email: str) -> bool:
        return not await self.store.trial_taken_by_email(checked_email(email))

    async def account(self, member_id: str) -> Account:
        sub = await self.store.subscription(checked_id(member_id, "member_id"))
        if sub is None:
            raise NotFoundError("this member has no subscription", code="no_subscription")
        method = None
        if sub.payment_method_id is not None:
            method = await self.store.payment_method(sub.payment_method_id)
        next_at, amount, retry = None, 0, None
        if sub.status in LIVE and not sub.cancel_at_period_end:
            next_at, amount = sub.period_end, self.rules.price(sub, sub.pending_plan or sub.plan)
        elif sub.status is Status.PAST_DUE and sub.open_invoice_id is not None:
            owed = await self.store.invoice(sub.open_invoice_id)
            next_at = retry = sub.next_action_at
            amount = owed.amount if owed is not None else 0
        return Account(
            subscription=sub,
            payment_method=method,
            balance_due=await self.store.receivable(sub.member_id),
            next_bill_at=next_at,
            next_bill_amount=amount,
            retry_at=retry,
        )

    async def invoices(self, member_id: str) -> list[tuple[Invoice, int]]:
        return await self.store.invoices_of(checked_id(member_id, "member_id"))

    async def balances(self, member_id: str = "") -> list[tuple[str, str, int]]:
        if member_id:
            checked_id(member_id, "member_id")
        return await self.store.balances(member_id)

    async def _answer(
        self, member_id: str, payment: Attempt | None = None, trial: bool = False
    ) -> Answer:
        return Answer(await self.account(member_id), payment, trial)

    # ---- idempotency ------------------------------------------------------------------------

    async def _replay(self, member_id: str, key: str, operation: str, digest: str) -> Answer | None:
        """The answer to a request seen before under this key, or None if it is new."""
        if not key:
            return None
        seen = await self.store.request_key(member_id, key)
        if seen is None:
            return None
        if seen.operation != operation or seen.body_hash != digest:
            raise ConflictError(
                "this idempotency key was used for another request", code="idempotency_key_reused"
            )
        payment = None
        if seen.attempt_id is not None:
            payment = await self.store.attempt(seen.attempt_id)
            if (
                payment is not None
                and payment.status is AttemptStatus.PENDING
                and payment.id not in self.collector.in_flight
            ):
                payment = (await self.collector.collect([payment], reconciling=True))[0]
        sub = await self.store.subscription(member_id)
        return await self._answer(
            member_id, payment, trial=sub is not None and sub.trial_end is not None
        )

    def _request_key(
        self, member_id: str, key: str, operation: str, digest: str, attempt: Attempt | None
    ) -> list[RequestKey]:
        if not key:
            return []
        return [RequestKey(member_id, key, operation, digest, attempt.id if attempt else None,
                           self.now())]  # fmt: skip

    async def _write(self, tx: BillingTransaction, changes: Changes) -> None:
        try:
            await tx.apply(changes)
        except DuplicateRowError as exc:
            refused = DUPLICATES.get(exc.constraint)
            if refused is None:
                raise
            raise ConflictError(refused[0], code=refused[1]) from exc

    async def _run(
        self,
        member_id: str,
        key: str,
        operation: str,
        digest: str,
        decide: Decide,
    ) -> Answer:
        """A request that may charge: replay it, or decide and write it, then collect the
        charge it made. `decide(tx, at)` returns (changes, attempt or None, trial)."""
        replayed = await self._replay(member_id, key, operation, digest)
        if replayed is not None:
            return replayed
        at = self.now()
        try:
            async with self.store.transaction() as tx:
                changes, charge, trial = await decide(tx, at)
                changes.request_keys.extend(self._request_key(member_id, key, operation, digest,
                                                              charge))  # fmt: skip
                await self._write(tx, changes)
        except DuplicateRowError as exc:
            if exc.constraint != "request_keys_pkey":
                raise
            # The same key arrived twice at once: the other one is the first.
            replayed = await self._replay(member_id, key, operation, digest)
            assert replayed is not None
            return replayed
        if charge is not None:
            charge = (await self.collector.collect([charge]))[0]
        return await self._answer(member_id, charge, trial)

    @staticmethod
    async def _locked(tx: BillingTransaction, member_id: str) -> Subscription:
        sub = await tx.subscription(member_id)
        if sub is None:
            raise NotFoundError("this member has no subscription", code="no_subscription")
        return sub

    async def _give_up(
        self, tx: BillingTransaction, sub: Subscription, unresolved: list[Attempt], at: datetime
    ) -> Changes:
        """Second steps the member left for a new charge: given up (what they were for
        voided), so one charge at a time is unresolved."""
        changes = Changes()
        invoices = await tx.invoices([a.invoice_id for a in unresolved])
        for waiting in unresolved:
            changes.extend(
                lifecycle.give_up(sub, invoices[waiting.invoice_id], waiting, at, self.rules)
            )
        return changes

    @staticmethod
    async def _nothing_pending(tx: BillingTransaction, sub: Subscription) -> list[Attempt]:
        """The subscription's unresolved attempts; ConflictError while one is being charged."""
        unresolved = await tx.unresolved(sub.id)
        if any(a.status is AttemptStatus.PENDING for a in unresolved):
            raise ConflictError(
                "a payment is being confirmed; try again shortly", code="payment_pending"
            )
        return unresolved

    # ---- starting ---------------------------------------------------------------------------

    async def start(
        self,
        *,
        member_id: str,
        email: str,
        country: str,
        currency: str,
        plan: str,
        card: Card,
        trial: str = TRIAL_IF_ELIGIBLE,
        idempotency_key: str = "",
    ) -> Answer:
        member_id = checked_id(member_id, "member_id")
        email = checked_email(email)
        key = checked_key(idempotency_key)
        price = pricing.price(country.upper(), plan, currency.upper())
        card = checked_card(card)
        if trial not in (TRIAL_IF_ELIGIBLE, TRIAL_REQUIRED, NO_TRIAL):
            raise BadRequestError(
                f"trial must be one of {TRIAL_IF_ELIGIBLE}, {TRIAL_REQUIRED}, {NO_TRIAL}"
            )
        digest = request_hash("start", member_id=member_id, email=email, country=price.country,
                       plan=plan, trial=trial, card=card_fields(card))  # fmt: skip
        replayed = await self._replay(member_id, key, "start", digest)
        if replayed is not None:
            return replayed
        existing = await self.store.subscription(member_id)
        if existing is not None and existing.status is not Status.INCOMPLETE:
            raise ConflictError(
                ALREADY_SUBSCRIBED,
                code="already_subscribed",
            )
        method = await self.processor.tokenize(member_id, card)

        async def decide(
            tx: BillingTransaction, at: datetime
        ) -> tuple[Changes, Attempt | None, bool]:
            current = await tx.subscription(member_id)
            unresolved: list[Attempt] = []
            if current is not None:
                if current.status is not Status.INCOMPLETE:
                    raise ConflictError(ALREADY_SUBSCRIBED, code="already_subscribed")
                unresolved = await self._nothing_pending(tx, current)
            taken = await tx.trial_taken(email, method.fingerprint)
            if trial == TRIAL_REQUIRED and taken:
                raise ConflictError("a free trial was already used with this email or card",
                                    code="trial_already_used")  # fmt: skip
            start, end = period(at, 0)
            sub = Subscription(
                id=current.id if current else lifecycle.new_id("sub"),
                member_id=member_id, email=email, country=price.country,
                currency=price.currency, plan=plan, status=Status.INCOMPLETE, anchor_at=start,
                period_index=0, period_start=start, period_end=end,
                created_at=current.created_at if current else at, payment_method_id=method.id,
            )  # fmt: skip
            changes = Changes(payment_methods=[method])
            if current is not None:
                changes.extend(await self._give_up(tx, current, unresolved, at))
            if trial != NO_TRIAL and not taken:
                changes.extend(lifecycle.trial(sub, at, self.rules))
                changes.trials += [
                    Trial("email", email, member_id, at),
                    Trial("fingerprint", method.fingerprint, member_id, at),
                ]
                return changes, None, True
            inv, issued = lifecycle.invoice(
                sub, InvoiceKind.SIGNUP, plan, price.amount_minor, start, end, at
            )
            charge = lifecycle.attempt(inv, sub, 1, Initiator.MEMBER, at,
                                       processor_key(member_id, key))  # fmt: skip
            changes.subscriptions.append(sub)
            changes.extend(issued)
            changes.attempts.append(charge)
            return changes, charge, False

        return await self._run(member_id, key, "start", digest, decide)

    # ---- plan changes -----------------------------------------------------------------------

    async def change_plan(self, *, member_id: str, plan: str, idempotency_key: str = "") -> Answer:
        member_id = checked_id(member_id, "member_id")
        key = checked_key(idempotency_key)
        target = pricing.plan(plan)
        digest = request_hash("change_plan", member_id=member_id, plan=plan)

        async def decide(
            tx: BillingTransaction, at: datetime
        ) -> tuple[Changes, Attempt | None, bool]:
            sub = await self._locked(tx, member_id)
            if sub.status is Status.ON_HOLD:
                raise ConflictError("the membership is on hold: pay what is owed first",
                                    code="subscription_on_hold")  # fmt: skip
            if sub.status is Status.PAST_DUE:
                raise ConflictError("a payment is overdue: pay it first", code="payment_past_due")
            if sub.status not in LIVE:
                raise ConflictError(f"a {sub.status.value} subscription has no plan to change",
                                    code="subscription_not_active")  # fmt: skip
            unresolved = await self._nothing_pending(tx, sub)
            current = pricing.plan(sub.plan)
            if target.name == sub.plan:
                changes = lifecycle.withdraw_downgrade(sub, at) if sub.pending_plan else Changes()
                return changes, None, False
            if target.rank < current.rank:
                if sub.pending_plan == target.name:
                    return Changes(), None, False
                return lifecycle.schedule_downgrade(sub, target.name, at), None, False
            amount = lifecycle.upgrade_price(sub, target.name, at, self.rules)
            if amount == 0:
                return lifecycle.change_now(sub, target.name, at, "upgraded"), None, False
            changes = await self._give_up(tx, sub, unresolved, at)
            inv, issued = lifecycle.invoice(
                sub, InvoiceKind.PRORATION, target.name, amount, at, sub.period_end, at
            )
            charge = lifecycle.attempt(inv, sub, 1, Initiator.MEMBER, at,
                                       processor_key(member_id, key))  # fmt: skip
            changes.extend(issued)
            changes.attempts.append(charge)
            return changes, charge, False

        return await self._run(member_id, key, "change_plan", digest, decide)

    # ---- cancelling and coming back ---------------------------------------------------------

    async def cancel(self, *, member_id: str, idempotency_key: str = "") -> Answer:
        member_id = checked_id(member_id, "member_id")
        key = checked_key(idempotency_key)
        digest = request_hash("cancel", member_id=member_id)

        async def decide(
            tx: BillingTransaction, at: datetime
        ) -> tuple[Changes, Attempt | None, bool]:
            sub = await self._locked(tx, member_id)
            if sub.status is Status.CANCELLED or sub.cancel_at_period_end:
                return Changes(), None, False
            if sub.status in LIVE:
                return lifecycle.schedule_cancel(sub, at), None, False
            unresolved = await self._nothing_pending(tx, sub)
            return (
                lifecycle.cancel_now(sub, await tx.open_invoices(sub.id), unresolved, at),
                None,
                False,
            )

        return await self._run(member_id, key, "cancel", digest, decide)

    async def rejoin(
        self, *, member_id: str, plan: str = "", card: Card | None = None, idempotency_key: str = ""
    ) -> Answer:
        member_id = checked_id(member_id, "member_id")
        key = checked_key(idempotency_key)
        if plan:
            pricing.plan(plan)
        if card is not None:
            checked_card(card)
        digest = request_hash("rejoin", member_id=member_id, plan=plan, card=card_fields(card))
        replayed = await self._replay(member_id, key, "rejoin", digest)
        if replayed is not None:
            return replayed
        if await self.store.subscription(member_id) is None:
            raise NotFoundError("this member has no subscription", code="no_subscription")
        method = await self.processor.tokenize(member_id, card) if card is not None else None

        async def decide(
            tx: BillingTransaction, at: datetime
        ) -> tuple[Changes, Attempt | None, bool]:
            sub = await self._locked(tx, member_id)
            unresolved = await self._nothing_pending(tx, sub)
            changes = Changes()
            if method is not None:
                changes.payment_methods.append(method)
                sub = replace(sub, payment_method_id=method.id)
                changes.subscriptions.append(sub)
            if sub.status in LIVE:
                if sub.cancel_at_period_end:
                    changes.extend(lifecycle.withdraw_cancel(sub, at))
                return changes, None, False
            charge = await self._owed_charge(tx, sub, at, key, plan, unresolved, changes)
            return changes, charge, False

        return await self._run(member_id, key, "rejoin", digest, decide)

    async def _owed_charge(
        self, tx: BillingTransaction, sub: Subscription, at: datetime, key: str, plan: str,
        unresolved: list[Attempt], changes: Changes,
    ) -> Attempt | None:  # fmt: skip
        """The member pays now: what is owed (past due, on hold), or a new month (cancelled,
        incomplete). The scheduled retries wait while this charge is made."""
        if sub.payment_method_id is None:
            raise ConflictError("there is no card to charge: add one", code="no_payment_method")
        changes.extend(await self._give_up(tx, sub, unresolved, at))
        if sub.status in OWING and sub.open_invoice_id is not None:
            owed = (await tx.invoices([sub.open_invoice_id]))[sub.open_invoice_id]
            made = (await tx.attempts_on([owed.id]))[owed.id]
            charge = lifecycle.attempt(owed, sub, len(made) + 1, Initiator.MEMBER, at,
                                       processor_key(sub.member_id, key))  # fmt: skip
            changes.subscriptions.append(replace(sub, next_action_at=None))
            changes.attempts.append(charge)
            return charge
        if sub.status not in (Status.CANCELLED, Status.INCOMPLETE):
            return None
        chosen = plan or sub.plan
        start, end = period(at, 0)
        kind = InvoiceKind.REJOIN if sub.status is Status.CANCELLED else InvoiceKind.SIGNUP
        inv, issued = lifecycle.invoice(sub, kind, chosen, self.rules.price(sub, chosen), start,
                                        end, at)  # fmt: skip
        charge = lifecycle.attempt(inv, sub, 1, Initiator.MEMBER, at,
                                   processor_key(sub.member_id, key))  # fmt: skip
        changes.extend(issued)
        changes.attempts.append(charge)
        return charge

    async def update_payment_method(
        self, *, member_id: str, card: Card, idempotency_key: str = ""
    ) -> Answer:
        member_id = checked_id(member_id, "member_id")
        key = checked_key(idempotency_key)
        checked_card(card)
        digest = request_hash("payment_method", member_id=member_id, card=card_fields(card))
        replayed = await self._replay(member_id, key, "payment_method", digest)
        if replayed is not None:
            return replayed
        if await self.store.subscription(member_id) is None:
            raise NotFoundError("this member has no subscription", code="no_subscription")
        method = await self.processor.tokenize(member_id, card)

        async def decide(
            tx: BillingTransaction, at: datetime
        ) -> tuple[Changes, Attempt | None, bool]:
            sub = replace(await self._locked(tx, member_id), payment_method_id=method.id)
            changes = Changes(payment_methods=[method], subscriptions=[sub])
            unresolved = await tx.unresolved(sub.id)
            if sub.status not in OWING or any(
                a.status is AttemptStatus.PENDING for a in unresolved
            ):
                return changes, None, False
            return (
                changes,
                await self._owed_charge(tx, sub, at, key, "", unresolved, changes),
                False,
            )

        return await self._run(member_id, key, "payment_method", digest, decide)

    async def confirm_payment(self, *, member_id: str, payment_id: str) -> Answer:
        member_id = checked_id(member_id, "member_id")
        found = await self.store.attempt(checked_id(payment_id, "payment_id"))
        if found is None or found.member_id != member_id:
            raise NotFoundError("no such payment for this member", code="no_such_payment")
        if found.status is AttemptStatus.REQUIRES_ACTION:
            found = await self.collector.confirm(found)
        elif found.status is not AttemptStatus.SUCCEEDED:
            raise ConflictError(f"a {found.status.value} payment has no second step",
                                code="not_confirmable")  # fmt: skip
        return await self._answer(member_id, found)

    # ---- refunds ----------------------------------------------------------------------------

    async def refund(
        self, *, member_id: str, invoice_id: str, amount: int = 0, reason: str = "",
        idempotency_key: str = "",
    ) -> tuple[Refund, Invoice]:  # fmt: skip
        member_id = checked_id(member_id, "member_id")
        invoice_id = checked_id(invoice_id, "invoice_id")
        key = checked_key(idempotency_key)
        if amount < 0:
            raise BadRequestError("amount_minor must not be negative")
        checked_reason(reason)
        found = await self._invoice_of(member_id, invoice_id)
        refund_key = (
            processor_key(member_id, key) or f"{invoice_id}/refund/{found.refunded}/{amount}"
        )
        seen = await self.store.refund_by_key(refund_key)
        if seen is not None:
            if seen.invoice_id != invoice_id or (amount and seen.amount != amount):
                raise ConflictError("this idempotency key was used for another request",
                                    code="idempotency_key_reused")  # fmt: skip
            if seen.status == "pending" and seen.id not in self.collector.in_flight:
                seen = await self.collector.refund(seen, reconciling=True)
            return seen, await self._invoice_of(member_id, invoice_id)
        async with self.store.transaction() as tx:
            await self._locked(tx, member_id)
            inv = (await tx.invoices([invoice_id]))[invoice_id]
            existing = await tx.pending_refund(invoice_id)
            if inv.status is not InvoiceStatus.PAID:
                raise ConflictError(f"a {inv.status.value} invoice cannot be refunded",
                                    code="not_refundable")  # fmt: skip
            if existing is not None:
                raise ConflictError("a refund of this invoice is being made; try again shortly",
                                    code="payment_pending")  # fmt: skip
            left = inv.amount - inv.refunded
            wanted = amount or left
            if wanted <= 0 or wanted > left:
                raise ConflictError(f"only {left} of this invoice can be refunded",
                                    code="refund_exceeds_payment")  # fmt: skip
            paid = next(
                a for a in (await tx.attempts_on([inv.id]))[inv.id]
                if a.status is AttemptStatus.SUCCEEDED
            )  # fmt: skip
            refund = Refund(
                id=lifecycle.new_id("re"), invoice_id=inv.id, attempt_id=paid.id,
                charge_id=paid.charge_id, member_id=member_id, idempotency_key=refund_key,
                amount=wanted, currency=inv.currency, status="pending", reason=reason,
                created_at=self.now(),
            )  # fmt: skip
            await self._write(tx, Changes(refunds=[refund]))
        refund = await self.collector.refund(refund)
        return refund, await self._invoice_of(member_id, invoice_id)

    async def _invoice_of(self, member_id: str, invoice_id: str) -> Invoice:
        found = await self.store.invoice(invoice_id)
        if found is None or found.member_id != member_id:  # another's looks like nobody's
            raise NotFoundError("no such invoice for this member", code="no_such_invoice")
        return found

    # ---- renewals ---------------------------------------------------------------------------

    async def run_renewals(self, until: datetime) -> RunReport:
        return await self.renewals.run(until)
