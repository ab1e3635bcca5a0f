"""The accounts process: gRPC for the platform (GetMember, GetProfile, GetDevice; CreateMember,
ActivateMember, DeletePendingMember for the sign-up API) and a small HTTP surface for
members, through the gateway:

    POST /api/accounts/login    {email, password} → a session token (also as a cookie)
    POST /api/accounts/logout   revokes the caller's session
    GET  /api/accounts/me       the caller's member record, profiles and devices

The gateway has checked the token's signature and expiry and names the member and session in
its edge headers (`platform.edge`); only the gateway reaches this port. Login answers 503
`busy` with Retry-After when more passwords wait to be hashed than the pool finishes in time.
Members join through the sign-up API (`/api/signup`), which creates them here as pending and
activates them once billing has started their subscription; billing's events then keep each
member's plan and status (`membership.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from reelcloud.platform.app import (
    STATE,
    Handler,
    add_readiness_check,
    create_service_app,
    error_response,
)
from reelcloud.platform.database import open_database
from reelcloud.platform.edge import SESSION_COOKIE, caller, client_address
from reelcloud.platform.events import EventMetrics, EventSubscription
from reelcloud.platform.openapi import Operation, serve_fragment
from reelcloud.platform.revocations import Revocations
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.validation import parse_body, parse_query
from reelcloud.rpc import accounts_pb2, accounts_pb2_grpc
from reelcloud.services.accounts.demo import seed_demo_members
from reelcloud.services.accounts.hashing import HashPool, Passwords
from reelcloud.services.accounts.membership import SUBJECTS, BillingFollower
from reelcloud.services.accounts.models import (
    BusyError,
    Login,
    Member,
    MemberDetails,
    NewMemberForm,
    SignedIn,
    SignedOut,
)
from reelcloud.services.accounts.service import AccountsService
from reelcloud.services.accounts.settings import AccountsSettings
from reelcloud.services.accounts.store import SCHEMA, AccountsStore
from reelcloud.services.accounts.throttle import TooManyAttemptsError

SERVICE = web.AppKey("accounts_service", AccountsService)
OPTIONS = web.AppKey("accounts_options", AccountsSettings)

OPERATIONS = [
    Operation("POST", "/api/accounts/login", "Sign in: a session token (also set as a cookie)",
              {200: SignedIn}, body=Login, errors=(401, 503)),
    Operation("POST", "/api/accounts/logout", "Sign out: the session is revoked",
              {200: SignedOut}, auth="required"),
    Operation("GET", "/api/accounts/me", "The member, its profiles and its devices",
              {200: MemberDetails}, auth="required"),
]  # fmt: skip


def _json(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json"), status=status)


def _signed_in(request: web.Request, signed_in: SignedIn, status: int) -> web.Response:
    response = _json(signed_in, status)
    ttl_s = request.app[OPTIONS].session_ttl_s
    response.set_cookie(
        SESSION_COOKIE, signed_in.token, max_age=ttl_s, httponly=True, samesite="Lax", path="/"
    )
    return response


async def login(request: web.Request) -> web.Response:
    credentials = parse_body(Login, await request.read(), "login")
    address = client_address(request.headers, request.remote)
    signed_in = await request.app[SERVICE].sign_in(credentials, address)
    return _signed_in(request, signed_in, status=200)


async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICE].sign_out(*caller(request.headers))
    response = _json(SignedOut())
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    return _json(await request.app[SERVICE].details(*caller(request.headers)))


@web.middleware
async def retry_after(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A shed or throttled sign-in says when to come back (the platform's error body, plus
    Retry-After)."""
    try:
        return await handler(request)
    except (BusyError, TooManyAttemptsError) as exc:
        response = error_response(exc.status, exc.code, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response


def member_message(member: Member) -> Any:
    plan = member.plan
    return accounts_pb2.Member(
        id=member.id,
        email=member.email,
        name=member.name,
        country=member.country,
        plan=plan.name,
        status=member.status,
        max_height=plan.max_height,
        max_streams=plan.max_streams,
    )


class AccountsServicer(accounts_pb2_grpc.AccountsServicer):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def GetMember(self, request: Any, context: Any) -> Any:
        member = await self.app[SERVICE].member(request.member_id, request.session_id)
        return member_message(member)

    async def GetProfile(self, request: Any, context: Any) -> Any:
        profile = await self.app[SERVICE].profile(request.member_id, request.profile_id)
        return accounts_pb2.Profile(**profile.model_dump())

    async def GetDevice(self, request: Any, context: Any) -> Any:
        device = await self.app[SERVICE].device(request.member_id, request.device_id)
        return accounts_pb2.Device(**device.model_dump())

    async def CreateMember(self, request: Any, context: Any) -> Any:
        fields = ("email", "password", "name", "country", "plan", "signup_key")
        form = parse_query(NewMemberForm, {f: getattr(request, f) for f in fields}, "member")
        address = request.client_address[:64] or "unknown"  # a key of the throttle only
        signed_in, resumed = await self.app[SERVICE].create_member(form, address)
        member = signed_in.member
        return accounts_pb2.CreatedMember(
            member=accounts_pb2.Member(
                id=member.id, email=member.email, name=member.name, country=member.country,
                plan=member.plan.name, status=member.status, max_height=member.plan.max_height,
                max_streams=member.plan.max_streams,
            ),
            profiles=[accounts_pb2.Profile(**p.model_dump()) for p in signed_in.profiles],
            devices=[accounts_pb2.Device(**d.model_dump()) for d in signed_in.devices],
            token=signed_in.token,
            expires_at=signed_in.expires_at,
            resumed=resumed,
        )  # fmt: skip

    async def ActivateMember(self, request: Any, context: Any) -> Any:
        return member_message(await self.app[SERVICE].activate(request.member_id))

    async def DeletePendingMember(self, request: Any, context: Any) -> Any:
        deleted = await self.app[SERVICE].delete_pending(request.member_id)
        return accounts_pb2.DeletePendingMemberResponse(deleted=deleted)


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    options = service_options(settings, AccountsSettings)
    app[OPTIONS] = options
    app.middlewares.append(retry_after)
    app.router.add_post("/api/accounts/login", login)
    app.router.add_post("/api/accounts/logout", logout)
    app.router.add_get("/api/accounts/me", me)
    serve_fragment(app, "accounts", OPERATIONS)
    app[STATE].rpc.add(
        accounts_pb2_grpc.add_AccountsServicer_to_server,
        AccountsServicer(app),
        accounts_pb2.DESCRIPTOR.services_by_name["Accounts"].full_name,
    )

    async def service(app: web.Application) -> AsyncIterator[None]:
        pool = await open_database(settings, "accounts", SCHEMA)
        hashes = HashPool(
            workers=options.hash_workers,
            max_wait_s=options.hash_max_wait_s,
            thread_nice=options.hash_thread_nice,
        )
        passwords = Passwords(hashes)
        await passwords.start()
        revocations = Revocations(settings.nats_url, watch=False)  # it writes, others check
        await revocations.start()
        app[SERVICE] = AccountsService(
            AccountsStore(pool),
            passwords,
            session_secret=settings.required_secret("session_secret"),
            session_ttl_s=options.session_ttl_s,
            revoke_session=revocations.revoke_session,
            unserved_countries=options.unserved_countries,
        )
        if options.demo_members:
            await seed_demo_members(app[SERVICE])
        follower = BillingFollower(app[SERVICE].store)
        metrics = EventMetrics(app[STATE].metrics.registry)
        subscriptions = [
            EventSubscription(settings.nats_url, f"accounts-{subject.split('.')[1]}", subject,
                              follower.handle, metrics=metrics)
            for subject in SUBJECTS
            if settings.nats_url
        ]  # fmt: skip
        for subscription in subscriptions:
            add_readiness_check(app, subscription.name, subscription.problem)
            subscription.start()
        yield
        for subscription in subscriptions:
            await subscription.aclose()
        await revocations.aclose()
        hashes.close()
        with contextlib.suppress(Exception):
            await pool.close()

    app.cleanup_ctx.append(service)
    return app
