"""The processor's HTTP API (JSON; every route takes the admin credential, as a processor's
takes its API key):

    POST /v1/payment_methods              {number, exp_month, exp_year, cvc} → a token (201)
    POST /v1/charges                      {payment_method, amount, currency, off_session,
                                           metadata}, Idempotency-Key → the charge
    GET  /v1/charges?idempotency_key=K    what happened to that key (404 no_such_charge)
    GET  /v1/charges?after=N&limit=M      every charge in the order made (pages)
    GET  /v1/charges/{id}
    POST /v1/charges/{id}/confirm         the second step passed: the charge succeeds
    POST /v1/refunds                      {charge, amount}, Idempotency-Key → the refund
    GET  /v1/refunds?idempotency_key=K | ?after=N&limit=M

A charge answers 200 whatever its outcome (`status`: succeeded, declined with a
`decline_code`, requires_action); errors are the platform's `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel

from reelcloud.platform.admin import admin_only
from reelcloud.platform.app import create_service_app
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.validation import parse_body, parse_int
from reelcloud.services.payments.models import (
    ChargeList,
    NewCharge,
    NewPaymentMethod,
    NewRefund,
    RefundList,
)
from reelcloud.services.payments.service import ProcessorService, checked_key
from reelcloud.services.payments.settings import PaymentsSettings
from reelcloud.services.payments.store import ProcessorStore

SERVICE = web.AppKey("payments_service", ProcessorService)
OPTIONS = web.AppKey("payments_options", PaymentsSettings)
KEY_HEADER = "Idempotency-Key"


def _json(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json"), status=status)


def _page(request: web.Request) -> tuple[int, int]:
    most = request.app[OPTIONS].max_page
    after = parse_int(request.query.get("after", "0"), "after")
    limit = parse_int(request.query.get("limit", str(most)), "limit", minimum=1, maximum=most)
    return after, limit


@admin_only
async def add_payment_method(request: web.Request) -> web.Response:
    card = parse_body(NewPaymentMethod, await request.read(), "payment method")
    return _json(request.app[SERVICE].add_payment_method(card), status=201)


@admin_only
async def charge(request: web.Request) -> web.Response:
    key = checked_key(request.headers.get(KEY_HEADER))
    body = parse_body(NewCharge, await request.read(), "charge")
    return _json(await request.app[SERVICE].charge(key, body))


@admin_only
async def charges(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    if "idempotency_key" in request.query:
        return _json(service.find_charge(checked_key(request.query["idempotency_key"])))
    after, limit = _page(request)
    found = service.charges(after, limit)
    return _json(
        ChargeList(charges=found, next_after=found[-1].seq if len(found) == limit else None)
    )


@admin_only
async def get_charge(request: web.Request) -> web.Response:
    return _json(request.app[SERVICE].get_charge(request.match_info["charge_id"]))


@admin_only
async def confirm(request: web.Request) -> web.Response:
    return _json(request.app[SERVICE].confirm(request.match_info["charge_id"]))


@admin_only
async def refund(request: web.Request) -> web.Response:
    key = checked_key(request.headers.get(KEY_HEADER))
    body = parse_body(NewRefund, await request.read(), "refund")
    return _json(request.app[SERVICE].refund(key, body))


@admin_only
async def refunds(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    if "idempotency_key" in request.query:
        return _json(service.find_refund(checked_key(request.query["idempotency_key"])))
    after, limit = _page(request)
    found = service.refunds(after, limit)
    return _json(
        RefundList(refunds=found, next_after=found[-1].seq if len(found) == limit else None)
    )


def create_app(settings: Settings) -> web.Application:
    # Nobody calls it through the registry (billing has its URL), so it fetches nothing.
    app = create_service_app(settings, fetch_registry=False)
    options = service_options(settings, PaymentsSettings)
    app[OPTIONS] = options
    app.router.add_post("/v1/payment_methods", add_payment_method)
    app.router.add_post("/v1/charges", charge)
    app.router.add_get("/v1/charges", charges)
    app.router.add_get("/v1/charges/{charge_id}", get_charge)
    app.router.add_post("/v1/charges/{charge_id}/confirm", confirm)
    app.router.add_post("/v1/refunds", refund)
    app.router.add_get("/v1/refunds", refunds)
    released = asyncio.Event()

    async def slow_response() -> None:
        # Held back until the time is up or the process stops (then answered at once).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), options.slow_response_s)

    async def store(app: web.Application) -> AsyncIterator[None]:
        path = Path(options.store_file)
        records = ProcessorStore(path if path.is_absolute() else settings.data_dir / path)
        app[SERVICE] = ProcessorService(records, slow_response=slow_response)
        yield
        records.close()

    async def release(app: web.Application) -> None:
        released.set()

    app.cleanup_ctx.append(store)
    app.on_shutdown.append(release)
    return app
