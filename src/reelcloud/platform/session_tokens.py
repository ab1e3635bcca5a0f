"""Session tokens: `base64url(claims JSON).base64url(HMAC-SHA256)`, with an expiry.

The accounts service issues them at login (claims: `sub` the member, `sid` the session, `exp`);
the gateway checks signature and expiry at the edge without a call; whether a session was
revoked (logout) is the accounts service's to say when a request reaches a member's data.
Both sides share `REELCLOUD_SESSION_SECRET`, from the data directory's secrets file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any

import orjson

from reelcloud.platform.errors import UnauthenticatedError

_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class InvalidTokenError(UnauthenticatedError):
    code = "invalid_token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(
    secret: str,
    member_id: str,
    *,
    session_id: str,
    ttl_s: int = 3600,
    now: float | None = None,
) -> str:
    if not session_id:
        raise ValueError("a session token names its session: logout revokes it")
    exp = int((now or time.time()) + ttl_s)
    claims: dict[str, Any] = {"sub": member_id, "sid": session_id, "exp": exp}
    payload = _b64(orjson.dumps(claims))
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def verify(secret: str, token: str, *, now: float | None = None) -> dict[str, Any]:
    # Two base64url parts, nothing else: base64's decoder skips foreign characters, so without
    # this one token had many spellings ("%=" inserted anywhere still verified), and a lone
    # surrogate failed to encode (a 500).
    if len(token) > 4096 or not _TOKEN.fullmatch(token):
        raise InvalidTokenError("malformed session token")
    payload, signature = token.split(".")
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
        claims = orjson.loads(_unb64(payload))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidTokenError("malformed session token") from None
    if _b64(given) != signature or not hmac.compare_digest(expected, given):
        raise InvalidTokenError("session token signature does not match")
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise InvalidTokenError("session token has no member")
    # A token without its session could not be revoked by logout: never accepted.
    if not isinstance(claims.get("sid"), str) or not claims["sid"]:
        raise InvalidTokenError("session token has no session")
    if not isinstance(claims.get("exp"), int) or claims["exp"] < (now or time.time()):
        raise InvalidTokenError("session token has expired")
    return claims
