"""The billing process (gRPC only; see proto/reelcloud/rpc/billing.proto for the calls). The
servicer translates messages to the service's arguments and its answers back; a refused
request carries its clear code in the trailing metadata (`platform.rpc.context.ERROR_CODE_KEY`),
as every platform call does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.database import open_database
from reelcloud.platform.errors import BadRequestError, ConfigurationError
from reelcloud.platform.settings import Settings, service_options
from reelcloud.rpc import billing_pb2, billing_pb2_grpc
from reelcloud.services.billing.clock import ControllableClock
from reelcloud.services.billing.collection import Collector, Processor
from reelcloud.services.billing.lifecycle import Rules
from reelcloud.services.billing.models import Account, Answer, Attempt, Card, Invoice
from reelcloud.services.billing.outbox import OutboxRelay
from reelcloud.services.billing.periods import utc
from reelcloud.services.billing.processor import ProcessorClient
from reelcloud.services.billing.renewals import RenewalLoop, Renewals
from reelcloud.services.billing.requests import NO_TRIAL, TRIAL_IF_ELIGIBLE, TRIAL_REQUIRED
from reelcloud.services.billing.service import BillingService
from reelcloud.services.billing.settings import BillingSettings
from reelcloud.services.billing.store import SCHEMA, BillingStore

SERVICE = web.AppKey("billing_service", BillingService)
LOOP = web.AppKey("billing_renewal_loop", RenewalLoop)
_TRIALS = {
    billing_pb2.TRIAL_IF_ELIGIBLE: TRIAL_IF_ELIGIBLE,
    billing_pb2.TRIAL_REQUIRED: TRIAL_REQUIRED,
    billing_pb2.NO_TRIAL: NO_TRIAL,
}
_MESSAGES = {
    "succeeded": "Payment received. Thank you.",
    "declined": "Your card was declined: try another card.",
    "requires_action": "Your bank asks you to confirm this payment.",
    "pending": "We are confirming your payment with your bank.",
    "abandoned": "This payment was not confirmed in time.",
}
_DECLINES = {
    "insufficient_funds": "Your card was declined for insufficient funds: try another card.",
    "expired_card": "Your card has expired: add a new card.",
    "stolen_card": "Your card was declined: try another card.",
    "authentication_required": "Your bank asks you to confirm payments: pay from your account.",
}


def _seconds(value: datetime | None) -> int:
    return 0 if value is None else int(value.timestamp())


def _money(amount: int, currency: str) -> Any:
    return billing_pb2.Money(amount_minor=amount, currency=currency)


def _card(message: Any) -> Card:
    return Card(
        number=message.number,
        exp_month=message.exp_month,
        exp_year=message.exp_year,
        cvc=message.cvc,
    )


def subscription_message(account: Account) -> Any:
    sub = account.subscription
    method = account.payment_method
    return billing_pb2.Subscription(
        id=sub.id,
        member_id=sub.member_id,
        plan=sub.plan,
        pending_plan=sub.pending_plan or "",
        status=sub.status.value,
        country=sub.country,
        currency=sub.currency,
        trial_ends_at=_seconds(sub.trial_end),
        period_start=_seconds(sub.period_start),
        period_end=_seconds(sub.period_end),
        cancel_at_period_end=sub.cancel_at_period_end,
        next_bill_at=_seconds(account.next_bill_at),
        next_bill=_money(account.next_bill_amount, sub.currency),
        payment_method=billing_pb2.PaymentMethod(
            brand=method.brand, last4=method.last4, exp_month=method.exp_month,
            exp_year=method.exp_year,
        ) if method else None,
        balance_due=_money(account.balance_due, sub.currency),
        retry_at=_seconds(account.retry_at),
        open_invoice_id=sub.open_invoice_id or "",
    )  # fmt: skip


def payment_message(attempt: Attempt) -> Any:
    status = attempt.status.value
    message = _MESSAGES[status]
    if status == "declined":
        message = _DECLINES.get(attempt.decline_code, message)
    return billing_pb2.Payment(
        id=attempt.id,
        invoice_id=attempt.invoice_id,
        status=status,
        decline_code=attempt.decline_code,
        amount=_money(attempt.amount, attempt.currency),
        message=message,
    )


def answer_message(answer: Answer) -> Any:
    return billing_pb2.SubscriptionResponse(
        subscription=subscription_message(answer.account),
        payment=payment_message(answer.payment) if answer.payment else None,
        trial=answer.trial,
    )


def invoice_message(invoice: Invoice, attempts: int) -> Any:
    return billing_pb2.Invoice(
        id=invoice.id,
        kind=invoice.kind.value,
        plan=invoice.plan,
        period_start=_seconds(invoice.period_start),
        period_end=_seconds(invoice.period_end),
        amount=_money(invoice.amount, invoice.currency),
        status=invoice.status.value,
        refunded=_money(invoice.refunded, invoice.currency),
        issued_at=_seconds(invoice.issued_at),
        paid_at=_seconds(invoice.paid_at),
        attempts=attempts,
    )


class BillingServicer(billing_pb2_grpc.BillingServicer):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    @property
    def service(self) -> BillingService:
        return self.app[SERVICE]

    async def ListPlans(self, request: Any, context: Any) -> Any:
        prices = self.service.plans(request.country)
        return billing_pb2.ListPlansResponse(
            country=request.country.upper(),
            currency=prices[0].currency,
            trial_days=self.service.rules.trial_days,
            plans=[
                billing_pb2.Plan(
                    name=p.plan.name, price=_money(p.amount_minor, p.currency),
                    max_height=p.plan.max_height, max_streams=p.plan.max_streams,
                )
                for p in prices
            ],
        )  # fmt: skip

    async def CheckTrial(self, request: Any, context: Any) -> Any:
        eligible = await self.service.trial_eligible(request.email)
        return billing_pb2.CheckTrialResponse(
            eligible=eligible, trial_days=self.service.rules.trial_days
        )

    async def StartSubscription(self, request: Any, context: Any) -> Any:
        if request.trial not in _TRIALS:
            raise BadRequestError("trial is not a TrialChoice")
        answer = await self.service.start(
            member_id=request.member_id, email=request.email, country=request.country,
            currency=request.currency, plan=request.plan, card=_card(request.card),
            trial=_TRIALS[request.trial], idempotency_key=request.idempotency_key,
        )  # fmt: skip
        return answer_message(answer)

    async def GetSubscription(self, request: Any, context: Any) -> Any:
        return subscription_message(await self.service.account(request.member_id))

    async def ChangePlan(self, request: Any, context: Any) -> Any:
        answer = await self.service.change_plan(
            member_id=request.member_id, plan=request.plan,
            idempotency_key=request.idempotency_key,
        )  # fmt: skip
        return answer_message(answer)

    async def Cancel(self, request: Any, context: Any) -> Any:
        answer = await self.service.cancel(
            member_id=request.member_id, idempotency_key=request.idempotency_key
        )
        return answer_message(answer)

    async def Rejoin(self, request: Any, context: Any) -> Any:
        answer = await self.service.rejoin(
            member_id=request.member_id, plan=request.plan,
            card=_card(request.card) if request.HasField("card") else None,
            idempotency_key=request.idempotency_key,
        )  # fmt: skip
        return answer_message(answer)

    async def UpdatePaymentMethod(self, request: Any, context: Any) -> Any:
        answer = await self.service.update_payment_method(
            member_id=request.member_id, card=_card(request.card),
            idempotency_key=request.idempotency_key,
        )  # fmt: skip
        return answer_message(answer)

    async def ConfirmPayment(self, request: Any, context: Any) -> Any:
        answer = await self.service.confirm_payment(
            member_id=request.member_id, payment_id=request.payment_id
        )
        return answer_message(answer)

    async def ListInvoices(self, request: Any, context: Any) -> Any:
        found = await self.service.invoices(request.member_id)
        return billing_pb2.ListInvoicesResponse(
            invoices=[invoice_message(invoice, tries) for invoice, tries in found]
        )

    async def Refund(self, request: Any, context: Any) -> Any:
        refund, invoice = await self.service.refund(
            member_id=request.member_id, invoice_id=request.invoice_id,
            amount=request.amount_minor, reason=request.reason,
            idempotency_key=request.idempotency_key,
        )  # fmt: skip
        return billing_pb2.RefundResponse(
            id=refund.id,
            status=refund.status,
            amount=_money(refund.amount, refund.currency),
            invoice=invoice_message(invoice, 0),
        )

    async def RunRenewals(self, request: Any, context: Any) -> Any:
        clock = self.service.clock
        now = clock.now()
        until = float(request.until) if request.until else now
        if until > now:
            if not isinstance(clock, ControllableClock):
                raise BadRequestError(
                    "renewals cannot run ahead of time here", code="until_in_future"
                )
            clock.advance_to(until)
        report = await self.service.run_renewals(utc(until))
        return billing_pb2.RunRenewalsResponse(
            renewed=report.renewed, failed=report.failed, on_hold=report.on_hold,
            ended=report.ended, reconciled=report.reconciled, pending=report.pending,
            now=int(clock.now()),
        )  # fmt: skip

    async def GetBalances(self, request: Any, context: Any) -> Any:
        found = await self.service.balances(request.member_id)
        return billing_pb2.GetBalancesResponse(
            balances=[
                billing_pb2.Balance(account=account, balance=_money(amount, currency))
                for account, currency, amount in found
            ]
        )


def build_service(
    store: BillingStore, processor: Processor, options: BillingSettings, clock: Clock
) -> BillingService:
    """The service and its collaborators, as the process wires them (tests wire the same)."""
    rules = Rules(trial_days=options.trial_days, retry_days=options.retry_days)
    collector = Collector(store, processor, rules, concurrency=options.charge_concurrency)
    renewals = Renewals(
        collector,
        batch_size=options.renewal_batch,
        second_step_expiry_s=options.second_step_expiry_s,
    )
    return BillingService(store, processor, collector, renewals, clock=clock, rules=rules)


def payments_url(settings: Settings, options: BillingSettings) -> str:
    """The processor's URL: the option, or the topology's `payments` service address."""
    if options.payments_url:
        return options.payments_url
    try:
        processor = settings.topology.service("payments")
    except ConfigurationError as exc:
        raise ConfigurationError(
            "billing needs payments_url, or a payments service with a port in the topology"
        ) from exc
    if not processor.port:
        raise ConfigurationError("the topology's payments service needs a fixed port for billing")
    return f"http://{processor.host}:{processor.port}"


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    options = service_options(settings, BillingSettings)
    state = app[STATE]
    state.rpc.add(
        billing_pb2_grpc.add_BillingServicer_to_server,
        BillingServicer(app),
        billing_pb2.DESCRIPTOR.services_by_name["Billing"].full_name,
    )
    clock: Clock = ControllableClock() if options.controllable_clock else SystemClock()
    processor_url = payments_url(settings, options)

    async def service(app: web.Application) -> AsyncIterator[None]:
        pool = await open_database(settings, "billing", SCHEMA)
        store = BillingStore(pool)
        processor = ProcessorClient(
            processor_url,
            settings.admin_password.get_secret_value(),
            state.commands,
            timeout_ms=options.payments_timeout_ms,
            max_concurrent=options.payments_max_concurrent,
            tokenize_timeout_ms=options.payments_tokenize_timeout_ms,
        )
        await processor.start()
        app[SERVICE] = build_service(store, processor, options, clock)
        loop = RenewalLoop(app[SERVICE].renewals, clock, options.renewal_interval_s)
        app[LOOP] = loop
        if options.renewal_interval_s > 0:
            loop.start()
        relay = OutboxRelay(store, settings.nats_url, interval_s=options.outbox_interval_s) if (
            settings.nats_url
        ) else None  # fmt: skip
        if relay is not None:
            relay.start()
        yield
        await loop.aclose()
        if relay is not None:
            await relay.aclose()
        await processor.aclose()
        with contextlib.suppress(Exception):
            await pool.close()

    app.cleanup_ctx.append(service)
    return app
