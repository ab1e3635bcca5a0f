"""Renewals on a schedule: everything due by a time (a period's end, a retry of a failed
charge, a cancellation taking effect), in batches, and the loop that runs them.

A batch is claimed, decided and written in one transaction (rows locked with SKIP LOCKED, so
instances running at once share the work instead of queueing on it); its charges are then
sent concurrently, and their outcomes written in one more transaction. Each step happens at
the time it was due, not at the time of the run: a run over a simulated year renews each
month on its own day. Before the due work, every charge whose outcome was never heard is
reconciled, so no subscription waits on a lost answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from reelcloud.platform.clock import Clock
from reelcloud.services.billing import lifecycle
from reelcloud.services.billing.collection import Collector, unresolved_of
from reelcloud.services.billing.models import Attempt, AttemptStatus, Changes, RunReport, Status
from reelcloud.services.billing.periods import utc

log = logging.getLogger(__name__)


class Renewals:
    def __init__(
        self, collector: Collector, *, batch_size: int, second_step_expiry_s: float = 86_400
    ) -> None:
        self.collector = collector
        self.store = collector.store
        self.rules = collector.rules
        self.batch_size = batch_size
        self.second_step_expiry = timedelta(seconds=second_step_expiry_s)

    async def run(self, until: datetime) -> RunReport:
        report = RunReport()
        report.reconciled, report.pending = await self.collector.reconcile(self.batch_size, report)
        while await self._expire(until - self.second_step_expiry) == self.batch_size:
            pass
        locked_elsewhere: set[str] = set()
        while True:
            ids = await self.store.due(until, self.batch_size, skip=list(locked_elsewhere))
            if not ids:
                break
            charges, claimed = await self._decide(ids, until, report)
            locked_elsewhere.update(set(ids) - claimed)
            for after in await self.collector.collect(charges, report=report):
                if after.status is AttemptStatus.SUCCEEDED:
                    report.renewed += 1
                elif after.status is AttemptStatus.DECLINED:
                    report.failed += 1
                elif after.status is AttemptStatus.PENDING:
                    report.pending += 1
        return report

    async def _expire(self, before: datetime) -> int:
        """Second steps asked for before `before` and never taken, given up; how many."""
        async with self.store.transaction() as tx:
            waiting = await tx.second_steps_before(before, self.batch_size)
            if not waiting:
                return 0
            subs = {s.id: s for s in await tx.subscriptions([a.subscription_id for a in waiting])}
            # Read again under the subscriptions' locks: one may have been confirmed meanwhile.
            current = await tx.attempts([a.id for a in waiting])
            invoices = await tx.invoices([a.invoice_id for a in waiting])
            changes = Changes()
            for attempt in current.values():
                step = lifecycle.give_up(
                    subs[attempt.subscription_id], invoices[attempt.invoice_id], attempt,
                    attempt.created_at + self.second_step_expiry, self.rules,
                )  # fmt: skip
                for written in step.subscriptions:
                    subs[written.id] = written
                changes.extend(step)
            await tx.apply(changes)
        return len(waiting)

    async def _decide(
        self, ids: list[str], until: datetime, report: RunReport
    ) -> tuple[list[Attempt], set[str]]:
        """One batch's steps, written; the charges to send and the ids this run claimed."""
        async with self.store.transaction() as tx:
            subs = await tx.claim_due(ids, until)
            open_ids = [s.open_invoice_id for s in subs if s.open_invoice_id]
            invoices = await tx.invoices(open_ids)
            made = await tx.attempts_on(open_ids)
            changes = Changes()
            charges = []
            for sub in subs:
                assert sub.next_action_at is not None
                attempts = made.get(sub.open_invoice_id or "", [])
                step, charge = lifecycle.due(
                    sub,
                    sub.next_action_at,
                    self.rules,
                    invoices.get(sub.open_invoice_id or ""),
                    len(attempts),
                    unresolved_of(attempts),
                )
                if any(s.status is Status.CANCELLED for s in step.subscriptions):
                    report.ended += 1
                changes.extend(step)
                if charge is not None:
                    charges.append(charge)
            await tx.apply(changes)
        return charges, {s.id for s in subs}


class RenewalLoop:
    """Runs what is due every `interval_s`, on the service's clock (a controllable one in
    tests and simulations); a failed run is logged and the next one tries again."""

    def __init__(
        self,
        renewals: Renewals,
        clock: Clock,
        interval_s: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.renewals = renewals
        self.clock = clock
        self.interval_s = interval_s
        self.sleep = sleep
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> RunReport:
        report = await self.renewals.run(utc(self.clock.now()))
        self.runs += 1
        return report

    async def _loop(self) -> None:
        while True:
            try:
                report = await self.run_once()
                if report.renewed or report.failed or report.ended or report.reconciled:
                    log.info("renewals: %s", report)
            except Exception:
                log.exception("a renewal run failed; the next one tries again")
            await self.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="billing renewals")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
