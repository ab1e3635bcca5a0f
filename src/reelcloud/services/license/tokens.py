"""Play tokens: `base64url(claims).base64url(HMAC-SHA256)`, claims bound to one play —
member, title, device, play id, the title's key id, the session it runs under — and an
expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import orjson

from reelcloud.platform.errors import ForbiddenError
from reelcloud.platform.signatures import signatures_match

MAX_TOKEN = 2048


@dataclass(frozen=True)
class PlayGrant:
    member_id: str
    title_id: str
    device_id: str
    play_id: str
    key_id: str
    expires_at: int
    session_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PlayTokens:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"play-token:" + secret.encode()).digest()

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, grant: PlayGrant) -> str:
        claims = {
            "m": grant.member_id,
            "t": grant.title_id,
            "d": grant.device_id,
            "p": grant.play_id,
            "k": grant.key_id,
            "exp": grant.expires_at,
            "s": grant.session_id,
        }
        payload = _b64(orjson.dumps(claims))
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str, now: float | None = None) -> PlayGrant:
        if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
            raise ForbiddenError("no valid play token", code="invalid_play_token")
        payload, signature = token.split(".")
        if not signatures_match(self._mac(payload), signature):
            raise ForbiddenError(
                "the play token's signature does not match", code="invalid_play_token"
            )
        try:
            claims = orjson.loads(_unb64(payload))
            grant = PlayGrant(
                str(claims["m"]), str(claims["t"]), str(claims["d"]), str(claims["p"]),
                str(claims["k"]), int(claims["exp"]), str(claims["s"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            raise ForbiddenError("the play token is malformed", code="invalid_play_token") from exc
        if grant.expires_at <= (time.time() if now is None else now):
            raise ForbiddenError("the play token has expired", code="expired_play_token")
        return grant
