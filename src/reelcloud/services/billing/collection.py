"""Collecting money: send a charge, write what came of it, and find out what came of the
charges nobody heard back from. Shared by the member's requests and the renewal runs.

A charge is written as a pending attempt, with its idempotency key, before it is sent (in
the transaction that decided it); its outcome is written in a second transaction. Whatever
happens in between — a timeout, a 500, this process dying — leaves a pending attempt that
`reconcile` settles later: it asks the processor what it did with that key, and sends the
same request again (same key, same body) only when the processor never saw it. The
processor makes at most one charge per key, and an attempt is settled at most once (the
settling transaction re-reads it under the subscription's lock), so money is never lost and
never taken twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from reelcloud.platform.events.schema import MemberOnHold, PaymentRefunded
from reelcloud.services.billing import ledger, lifecycle
from reelcloud.services.billing.lifecycle import Rules
from reelcloud.services.billing.models import (
    UNRESOLVED,
    Attempt,
    AttemptStatus,
    Card,
    Changes,
    ChargeOutcome,
    Initiator,
    Invoice,
    PaymentMethod,
    Refund,
    RunReport,
)
from reelcloud.services.billing.store import BillingStore

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Processor(Protocol):
    """The card processor (`processor.ProcessorClient`)."""

    async def tokenize(self, member_id: str, card: Card) -> PaymentMethod: ...
    async def charge(self, key: str, body: dict[str, Any]) -> ChargeOutcome: ...
    async def find_charge(self, key: str) -> ChargeOutcome | None: ...
    async def confirm(self, charge_id: str) -> ChargeOutcome: ...
    async def refund(self, key: str, charge_id: str, amount: int) -> str | None: ...
    async def find_refund(self, key: str) -> str | None: ...


class ChargeFaults(Protocol):
    """A test's hook between a charge's answer and the writing of it: raising here is billing
    dying at the worst moment (the charge made, nothing written)."""

    def after_charge(self, attempt: Attempt, outcome: ChargeOutcome) -> None: ...


def charge_body(attempt: Attempt) -> dict[str, Any]:
    """The processor's request for an attempt: built from the attempt alone, so a resend after
    a crash is the very same request (the processor refuses a key with another body)."""
    return {
        "payment_method": attempt.payment_method_id,
        "amount": attempt.amount,
        "currency": attempt.currency,
        "off_session": attempt.initiator is Initiator.SCHEDULE,
        "metadata": {
            "attempt_id": attempt.id,
            "invoice_id": attempt.invoice_id,
            "subscription_id": attempt.subscription_id,
            "member_id": attempt.member_id,
        },
    }


async def bounded(items: Sequence[T], fn: Callable[[T], Awaitable[R]], concurrency: int) -> list[R]:
    """`fn` over `items`, at most `concurrency` at a time. The first error cancels the rest
    and is raised as itself (a crash in the middle of a run stops the run)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> R:
        async with gate:
            return await fn(item)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(item)) for item in items]
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [task.result() for task in tasks]


class Collector:
    def __init__(
        self, store: BillingStore, processor: Processor, rules: Rules, *, concurrency: int
    ) -> None:
        self.store = store
        self.processor = processor
        self.rules = rules
        self.concurrency = concurrency
        self.faults: ChargeFaults | None = None
        # Attempts and refunds this process has sent and not yet written the outcome of:
        # reconciling them now would only race with the answer on its way.
        self.in_flight: set[str] = set()

    # ---- charges ----------------------------------------------------------------------------

    async def _send(self, attempt: Attempt, resend_only_if_unseen: bool) -> ChargeOutcome:
        if resend_only_if_unseen:
            found = await self.processor.find_charge(attempt.idempotency_key)
            if found is not None:
                return found
        outcome = await self.processor.charge(attempt.idempotency_key, charge_body(attempt))
        if self.faults is not None:
            self.faults.after_charge(attempt, outcome)
        return outcome

    async def collect(
        self,
        attempts: Sequence[Attempt],
        *,
        reconciling: bool = False,
        report: RunReport | None = None,
    ) -> list[Attempt]:
        """Charge each attempt (or, reconciling, find out what became of it) and write the
        outcomes heard; the attempts as they are now."""
        if not attempts:
            return []
        self.in_flight.update(a.id for a in attempts)
        try:

            async def send(attempt: Attempt) -> tuple[Attempt, ChargeOutcome]:
                return attempt, await self._send(attempt, reconciling)

            sent = await bounded(attempts, send, self.concurrency)
            heard = [(a, o) for a, o in sent if o.known]
            settled = await self.settle(heard, report) if heard else {}
            return [settled.get(a.id, a) for a in attempts]
        finally:
            self.in_flight.difference_update(a.id for a in attempts)

    async def settle(
        self, heard: Sequence[tuple[Attempt, ChargeOutcome]], report: RunReport | None = None
    ) -> dict[str, Attempt]:
        """Write known outcomes, in one transaction; an attempt already settled (by another
        path that heard first) is left as it is. The attempts as written, by id."""
        sub_ids = sorted({a.subscription_id for a, _ in heard})
        async with self.store.transaction() as tx:
            subs = {s.id: s for s in await tx.subscriptions(sub_ids)}
            current = await tx.attempts([a.id for a, _ in heard])
            invoices = await tx.invoices([a.invoice_id for a, _ in heard])
            changes = Changes()
            result: dict[str, Attempt] = {}
            for sent, outcome in heard:
                now = current[sent.id]
                if now.status not in UNRESOLVED or (
                    now.status is AttemptStatus.REQUIRES_ACTION
                    and outcome.status == "requires_action"
                ):
                    result[now.id] = now
                    continue
                sub = subs[now.subscription_id]
                step = lifecycle.settle(
                    sub, invoices[now.invoice_id], now, outcome, now.created_at, self.rules
                )
                changes.extend(step)
                if report is not None:
                    report.on_hold += sum(isinstance(e, MemberOnHold) for e in step.events)
                # A later attempt of the same subscription in this batch sees this one's effect.
                for written in step.subscriptions:
                    subs[written.id] = written
                for written_invoice in step.invoices:
                    invoices[written_invoice.id] = written_invoice
                result[now.id] = next(a for a in step.attempts if a.id == now.id)
            await tx.apply(changes)
        return result

    async def confirm(self, attempt: Attempt) -> Attempt:
        """The member passed the second step of a charge: confirm it at the processor."""
        self.in_flight.add(attempt.id)
        try:
            outcome = await self.processor.confirm(attempt.charge_id)
            if not outcome.known:
                return attempt
            return (await self.settle([(attempt, outcome)]))[attempt.id]
        finally:
            self.in_flight.discard(attempt.id)

    # ---- refunds ----------------------------------------------------------------------------

    async def refund(self, refund: Refund, *, reconciling: bool = False) -> Refund:
        """Send a refund (or, reconciling, find out whether the processor made it, and send it
        again only if it never saw it) and write the outcome heard."""
        self.in_flight.add(refund.id)
        try:
            status: str | None
            if reconciling:
                found = await self.processor.find_refund(refund.idempotency_key)
                if found is None:
                    return refund
                status = found if found == "succeeded" else await self._send_refund(refund)
            else:
                status = await self._send_refund(refund)
            if status is None:
                return refund
            return await self._settle_refund(refund, status == "succeeded")
        finally:
            self.in_flight.discard(refund.id)

    async def _send_refund(self, refund: Refund) -> str | None:
        return await self.processor.refund(refund.idempotency_key, refund.charge_id, refund.amount)

    async def _settle_refund(self, refund: Refund, succeeded: bool) -> Refund:
        at = refund.created_at
        async with self.store.transaction() as tx:
            current = await tx.refund(refund.id)
            assert current is not None
            if current.status != "pending":
                return current
            invoice: Invoice = (await tx.invoices([refund.invoice_id]))[refund.invoice_id]
            decided = replace(current, status="succeeded" if succeeded else "failed", decided_at=at)
            changes = Changes(refunds=[decided])
            if succeeded:
                changes.invoices.append(replace(invoice, refunded=invoice.refunded + refund.amount))
                changes.postings.append(
                    ledger.refund(refund.id, refund.member_id, refund.amount, refund.currency, at)
                )
                changes.events.append(
                    PaymentRefunded(
                        member_id=refund.member_id, subscription_id=invoice.subscription_id,
                        at=at.timestamp(), refund_id=refund.id, invoice_id=invoice.id,
                        amount_minor=refund.amount, currency=refund.currency,
                    )
                )  # fmt: skip
            await tx.apply(changes)
        return decided

    # ---- what was never heard ---------------------------------------------------------------

    async def reconcile(self, batch: int, report: RunReport | None = None) -> tuple[int, int]:
        """Settle every pending charge and refund this process is not waiting for; (how many
        were settled, how many are still without an outcome)."""
        settled = unknown = 0
        tried: set[str] = set()
        while True:
            pending = await self.store.pending_attempts([*self.in_flight, *tried], batch)
            if not pending:
                break
            tried.update(a.id for a in pending)
            for after in await self.collect(pending, reconciling=True, report=report):
                if after.status is AttemptStatus.PENDING:
                    unknown += 1
                else:
                    settled += 1
        while True:
            refunds = await self.store.pending_refunds([*self.in_flight, *tried], batch)
            if not refunds:
                break
            tried.update(r.id for r in refunds)
            for refund in refunds:
                after_refund = await self.refund(refund, reconciling=True)
                if after_refund.status == "pending":
                    unknown += 1
                else:
                    settled += 1
        return settled, unknown


def unresolved_of(attempts: Sequence[Attempt]) -> Attempt | None:
    return next((a for a in attempts if a.status in UNRESOLVED), None)
