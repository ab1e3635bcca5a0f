"""The sign-up API over HTTP, behind the gateway (`/api/signup`): each handler parses, calls
`SignupService`, renders. `create_app` wires the settings, the two dependencies (accounts,
billing) and the service.

    GET  /api/signup/plans?country=GB            plans and prices in the country's currency
    POST /api/signup                             join: 201 signed in, 202 a payment to finish
    GET  /api/signup/account                     the member and their subscription
    GET  /api/signup/account/invoices
    POST /api/signup/account/plan                {plan}: an upgrade now, a downgrade later
    POST /api/signup/account/cancel              at the end of the paid period
    POST /api/signup/account/rejoin              {plan?, card?}
    PUT  /api/signup/account/payment-method      {card}: what is owed is charged at once
    POST /api/signup/account/payments/{id}/confirm   the bank's second step was passed

Calls that may charge take an `Idempotency-Key` header: the same key again answers what the
first request did, never a second charge.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel

from reelcloud.apis.signup.models import (
    Account,
    AccountChange,
    Empty,
    Invoices,
    PaymentMethodForm,
    PlanChange,
    Plans,
    RejoinForm,
    SignupAnswer,
    SignupForm,
)
from reelcloud.apis.signup.service import MAX_KEY, Caller, SignupService
from reelcloud.apis.signup.settings import SignupSettings
from reelcloud.apis.signup.store import Members, Subscriptions
from reelcloud.platform import edge
from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.openapi import Operation, Parameter, serve_fragment
from reelcloud.platform.rpc.dependency import Dependency
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.validation import parse_body
from reelcloud.rpc import accounts_pb2_grpc, billing_pb2_grpc

SERVICE = web.AppKey("signup_service", SignupService)
IDEMPOTENCY_KEY = "Idempotency-Key"
# A payment still to finish: the bank's second step, or an answer not heard yet.
UNFINISHED = frozenset({"requires_action", "pending"})


def _json(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json"), status=status)


def _caller(request: web.Request) -> Caller:
    return Caller(*edge.caller(request.headers))


def _key(request: web.Request) -> str | None:
    return request.headers.get(IDEMPOTENCY_KEY)


def _changed(change: AccountChange) -> web.Response:
    unfinished = change.payment is not None and change.payment.status in UNFINISHED
    return _json(change, 202 if unfinished else 200)


async def plans(request: web.Request) -> web.Response:
    country = request.query.get("country", "")
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise BadRequestError("country must be an ISO 3166-1 alpha-2 code, such as GB")
    return _json(await request.app[SERVICE].plans(country))


async def sign_up(request: web.Request) -> web.Response:
    form = parse_body(SignupForm, await request.read(), "signup")
    address = edge.client_address(request.headers, request.remote)
    answer = await request.app[SERVICE].sign_up(form, _key(request), address)
    response = _json(answer, 201 if answer.status == "active" else 202)
    response.set_cookie(
        edge.SESSION_COOKIE, answer.token, max_age=max(0, answer.expires_at - int(time.time())),
        httponly=True, samesite="Lax", path="/",
    )  # fmt: skip
    return response


async def account(request: web.Request) -> web.Response:
    return _json(await request.app[SERVICE].account(_caller(request)))


async def invoices(request: web.Request) -> web.Response:
    found = await request.app[SERVICE].invoices(_caller(request))
    return _json(Invoices(invoices=found))


async def change_plan(request: web.Request) -> web.Response:
    caller = _caller(request)
    form = parse_body(PlanChange, await request.read(), "plan change")
    return _changed(await request.app[SERVICE].change_plan(caller, form.plan, _key(request)))


async def cancel(request: web.Request) -> web.Response:
    caller = _caller(request)
    raw = await request.read()
    if raw.strip():
        parse_body(Empty, raw, "cancellation")
    return _changed(await request.app[SERVICE].cancel(caller, _key(request)))


async def rejoin(request: web.Request) -> web.Response:
    caller = _caller(request)
    raw = await request.read()
    form = parse_body(RejoinForm, raw, "rejoin") if raw.strip() else RejoinForm()
    change = await request.app[SERVICE].rejoin(caller, form.plan, form.card, _key(request))
    return _changed(change)


async def payment_method(request: web.Request) -> web.Response:
    caller = _caller(request)
    form = parse_body(PaymentMethodForm, await request.read(), "payment method")
    return _changed(
        await request.app[SERVICE].update_payment_method(caller, form.card, _key(request))
    )


async def confirm(request: web.Request) -> web.Response:
    caller = _caller(request)
    payment_id = request.match_info["payment_id"]
    return _changed(await request.app[SERVICE].confirm_payment(caller, payment_id))


_KEY = Parameter(
    IDEMPOTENCY_KEY,
    "header",
    {"type": "string", "maxLength": MAX_KEY},
    description="the same key again answers the first request: never two charges",
)
_COUNTRY = Parameter(
    "country",
    "query",
    {"type": "string", "pattern": "^[A-Za-z]{2}$"},
    description="ISO 3166-1 alpha-2",
    required=True,
)
OPERATIONS = [
    Operation("GET", "/api/signup/plans", "The plans and their monthly prices in a country",
              {200: Plans}, parameters=(_COUNTRY,)),
    Operation("POST", "/api/signup", "Join: an account, a plan, a card; a free trial or the "
              "first month paid. 201 signed in; 202 a payment to finish", {201: SignupAnswer,
              202: SignupAnswer}, body=SignupForm, parameters=(_KEY,),
              errors=(402, 409, 503)),
    Operation("GET", "/api/signup/account", "The member's plan, status, next bill and card",
              {200: Account}, auth="required"),
    Operation("GET", "/api/signup/account/invoices", "The member's invoices, newest first",
              {200: Invoices}, auth="required"),
    Operation("POST", "/api/signup/account/plan", "Change plan: an upgrade at once (prorated),"
              " a downgrade from the next period", {200: AccountChange, 202: AccountChange},
              body=PlanChange, parameters=(_KEY,), errors=(402, 404, 409, 503),
              auth="required"),
    Operation("POST", "/api/signup/account/cancel", "Cancel at the end of the paid period",
              {200: AccountChange}, parameters=(_KEY,), errors=(404, 409, 503),
              auth="required"),
    Operation("POST", "/api/signup/account/rejoin", "Undo a cancellation, or come back: a new "
              "month paid at once", {200: AccountChange, 202: AccountChange}, body=RejoinForm,
              parameters=(_KEY,), errors=(402, 404, 409, 503), auth="required"),
    Operation("PUT", "/api/signup/account/payment-method", "A new card; what is owed is "
              "charged at once", {200: AccountChange, 202: AccountChange},
              body=PaymentMethodForm, parameters=(_KEY,), errors=(402, 404, 409, 503),
              auth="required"),
    Operation("POST", "/api/signup/account/payments/{payment_id}/confirm",
              "The bank's second step was passed: finish the payment",
              {200: AccountChange, 202: AccountChange},
              parameters=(Parameter("payment_id", "path", {"type": "string"}),),
              errors=(402, 404, 409, 503), auth="required"),
]  # fmt: skip


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    state = app[STATE]
    options = service_options(settings, SignupSettings)
    accounts = Dependency(
        state, "accounts", accounts_pb2_grpc.AccountsStub, options.accounts_timeout_ms,
        max_concurrent=options.max_concurrent,
    )  # fmt: skip
    billing = Dependency(
        state, "billing", billing_pb2_grpc.BillingStub, options.billing_timeout_ms,
        max_concurrent=options.max_concurrent,
    )  # fmt: skip
    app[SERVICE] = SignupService(Members(accounts), Subscriptions(billing))
    app.router.add_get("/api/signup/plans", plans)
    app.router.add_post("/api/signup", sign_up)
    app.router.add_get("/api/signup/account", account)
    app.router.add_get("/api/signup/account/invoices", invoices)
    app.router.add_post("/api/signup/account/plan", change_plan)
    app.router.add_post("/api/signup/account/cancel", cancel)
    app.router.add_post("/api/signup/account/rejoin", rejoin)
    app.router.add_put("/api/signup/account/payment-method", payment_method)
    app.router.add_post("/api/signup/account/payments/{payment_id}/confirm", confirm)
    serve_fragment(app, "signup-api", OPERATIONS)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        for dependency in (accounts, billing):
            await dependency.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app
