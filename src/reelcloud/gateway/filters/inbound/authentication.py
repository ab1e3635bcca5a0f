from __future__ import annotations

from collections.abc import Callable

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter
from reelcloud.gateway.outcome import Outcome
from reelcloud.platform import session_tokens as tokens
from reelcloud.platform.edge import SESSION_COOKIE

_COOKIE_NAME = SESSION_COOKIE.encode()


class AuthenticationFilter(InboundFilter):
    """Checks the session token (`Authorization: Bearer …` or the `session` cookie) against the
    route's requirement: a bad token is refused on every route; a missing one only where the
    route requires a member. A signed-out session's token is a bad token (`revoked`: whether
    a session id was signed out, from platform.revocations)."""

    order = 60
    name = "authentication"

    def __init__(self, secret: str, revoked: Callable[[str], bool] = lambda sid: False) -> None:
        self._secret = secret
        self._revoked = revoked

    def apply(self, ctx: RequestContext) -> None:
        requirement = ctx.auth
        token = _token(ctx)
        if token is None or requirement == "none":
            if requirement == "required":
                ctx.fail(
                    401,
                    "unauthenticated",
                    "sign in first: this needs a session token",
                    Outcome.FAILURE_CLIENT_UNAUTHORIZED,
                )
            return
        try:
            claims = tokens.verify(self._secret, token)
        except tokens.InvalidTokenError as exc:
            ctx.fail(401, exc.code, exc.message, Outcome.FAILURE_CLIENT_UNAUTHORIZED)
            return
        if self._revoked(claims["sid"]):
            ctx.fail(
                401,
                "session_revoked",
                "this session was signed out: sign in again",
                Outcome.FAILURE_CLIENT_UNAUTHORIZED,
            )
            return
        ctx.claims = claims


def _token(ctx: RequestContext) -> str | None:
    authorization = ctx.request.header(b"authorization")
    if authorization and authorization[:7].lower() == b"bearer ":
        return authorization[7:].decode("latin-1").strip()
    cookie = ctx.request.header(b"cookie")
    if cookie:
        for part in cookie.split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == _COOKIE_NAME:
                return value.decode("latin-1")
    return None
