"""The accounts process: gRPC for the platform (GetMember, GetProfile, GetDevice) and a small
HTTP surface for members, through the gateway:

    POST /api/accounts/signup   {email, password, name, country, plan} → a new member with a
                                profile, a kids profile and three devices, signed in
    POST /api/accounts/login    {email, password} → a session token (also as a cookie)
    POST /api/accounts/logout   revokes the caller's session
    GET  /api/accounts/me       the caller's member record, profiles and devices

The gateway has checked the token's signature and expiry and passes the member and session
ids as `X-Reelcloud-Member` / `X-Reelcloud-Session`; only the gateway reaches this port.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from reelcloud.platform import session_tokens
from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.database import open_database
from reelcloud.platform.errors import UnauthenticatedError
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.validation import parse_body
from reelcloud.rpc import accounts_pb2, accounts_pb2_grpc
from reelcloud.services.accounts.demo import seed_demo_members
from reelcloud.services.accounts.plans import PLANS
from reelcloud.services.accounts.store import SCHEMA, AccountsStore, new_id

log = logging.getLogger(__name__)

MEMBER_HEADER = "X-Reelcloud-Member"
SESSION_HEADER = "X-Reelcloud-Session"


class AccountsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_ttl_s: int = Field(default=24 * 3600, gt=0)
    demo_members: bool = True


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class Signup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    password: str = Field(min_length=8, max_length=1024)
    name: str = Field(min_length=1, max_length=100)
    country: str = Field(pattern=r"^[A-Za-z]{2}$")
    plan: Literal["basic", "standard", "premium"] = "standard"


STORE = web.AppKey("accounts_store", AccountsStore)


def member_message(row: dict[str, Any]) -> Any:
    plan = PLANS[row["plan"]]
    return accounts_pb2.Member(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        country=row["country"],
        plan=plan.name,
        status=row["status"],
        max_height=plan.max_height,
        max_streams=plan.max_streams,
    )


def public_member(row: dict[str, Any]) -> dict[str, Any]:
    plan = PLANS[row["plan"]]
    return {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"],
        "country": row["country"],
        "plan": {"name": plan.name, "max_height": plan.max_height, "max_streams": plan.max_streams},
        "status": row["status"],
    }


async def _caller(request: web.Request) -> tuple[str, str]:
    member_id = request.headers.get(MEMBER_HEADER, "")
    session_id = request.headers.get(SESSION_HEADER, "")
    if not member_id or not session_id:
        raise UnauthenticatedError("sign in first: this needs a session token")
    await request.app[STORE].check_session(member_id, session_id)
    return member_id, session_id


async def signup(request: web.Request) -> web.Response:
    form = parse_body(Signup, await request.read(), "signup")
    store = request.app[STORE]
    member_id = new_id("m")
    await store.create_member(
        member_id=member_id,
        email=form.email,
        password=form.password,
        name=form.name,
        country=form.country.upper(),
        plan=form.plan,
        profiles=[(new_id("p"), form.name, "R"), (new_id("p"), "Kids", "G")],
        devices=[
            (new_id("d"), "browser", 1080, "aes-128"),
            (new_id("d"), "tv", 2160, "aes-128"),
            (new_id("d"), "phone", 720, "aes-128"),
        ],
    )
    log.info("member %s signed up (%s, %s)", member_id, form.country.upper(), form.plan)
    return await _signed_in(request, await store.member(member_id), status=201)


async def login(request: web.Request) -> web.Response:
    credentials = parse_body(Login, await request.read(), "login")
    row = await request.app[STORE].check_password(credentials.email, credentials.password)
    return await _signed_in(request, row)


async def _signed_in(request: web.Request, row: dict[str, Any], status: int = 200) -> web.Response:
    """A new session for the member: the token in the body and as a cookie."""
    store = request.app[STORE]
    settings = request.app[STATE].settings
    options = request.app[OPTIONS]
    session = await store.open_session(row["id"], options.session_ttl_s)
    token = session_tokens.issue(
        settings.session_secret.get_secret_value(),
        row["id"],
        session_id=session.id,
        ttl_s=options.session_ttl_s,
    )
    log.info("member %s signed in (session %s)", row["id"], session.id)
    response = web.json_response(
        {
            "token": token,
            "expires_at": int(session.expires_at.timestamp()),
            "member": public_member(row),
            "profiles": await store.listing("profiles", row["id"]),
            "devices": await store.listing("devices", row["id"]),
        },
        status=status,
    )
    response.set_cookie(
        "session", token, max_age=options.session_ttl_s, httponly=True, samesite="Lax", path="/"
    )
    return response


async def logout(request: web.Request) -> web.Response:
    member_id, session_id = await _caller(request)
    await request.app[STORE].revoke_session(member_id, session_id)
    log.info("member %s signed out (session %s)", member_id, session_id)
    response = web.json_response({"signed_out": True})
    response.del_cookie("session", path="/")
    return response


async def me(request: web.Request) -> web.Response:
    member_id, _ = await _caller(request)
    store = request.app[STORE]
    return web.json_response(
        {
            "member": public_member(await store.member(member_id)),
            "profiles": await store.listing("profiles", member_id),
            "devices": await store.listing("devices", member_id),
        }
    )


OPTIONS = web.AppKey("accounts_options", AccountsSettings)


class AccountsServicer(accounts_pb2_grpc.AccountsServicer):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def GetMember(self, request: Any, context: Any) -> Any:
        store = self.app[STORE]
        if request.session_id:
            await store.check_session(request.member_id, request.session_id)
        return member_message(await store.member(request.member_id))

    async def GetProfile(self, request: Any, context: Any) -> Any:
        row = await self.app[STORE].owned("profiles", request.member_id, request.profile_id)
        return accounts_pb2.Profile(**row)

    async def GetDevice(self, request: Any, context: Any) -> Any:
        row = await self.app[STORE].owned("devices", request.member_id, request.device_id)
        return accounts_pb2.Device(**row)


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    state = app[STATE]
    options = service_options(settings, AccountsSettings)
    app[OPTIONS] = options
    app.router.add_post("/api/accounts/signup", signup)
    app.router.add_post("/api/accounts/login", login)
    app.router.add_post("/api/accounts/logout", logout)
    app.router.add_get("/api/accounts/me", me)
    state.rpc.add(
        accounts_pb2_grpc.add_AccountsServicer_to_server,
        AccountsServicer(app),
        accounts_pb2.DESCRIPTOR.services_by_name["Accounts"].full_name,
    )

    async def database(app: web.Application) -> AsyncIterator[None]:
        pool = await open_database(settings, "accounts", SCHEMA)
        store = AccountsStore(pool)
        app[STORE] = store
        if options.demo_members:
            await seed_demo_members(store)
        yield
        with contextlib.suppress(Exception):
            await pool.close()

    app.cleanup_ctx.append(database)
    return app
