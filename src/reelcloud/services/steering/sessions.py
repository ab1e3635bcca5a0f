"""The steering manifest's URL names the play it steers: title, pathways (OCA ids) and expiry,
packed into one signed query value so the steering service keeps no per-play state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

from reelcloud.platform.errors import BadRequestError, ForbiddenError


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"steering-session:" + secret.encode()).digest()

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, data: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=")
        return f"{payload.decode()}.{self._mac(payload)}"

    def decode(self, value: str, now: float | None = None) -> dict[str, Any]:
        payload, dot, signature = value.partition(".")
        if not dot or len(value) > 4096:
            raise BadRequestError("the steering session is malformed")
        if not hmac.compare_digest(self._mac(payload.encode()), signature):
            raise ForbiddenError("the steering session's signature does not match")
        try:
            data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise BadRequestError("the steering session is malformed") from exc
        if not isinstance(data, dict) or not isinstance(data.get("p"), list):
            raise BadRequestError("the steering session is malformed")
        if float(data.get("x", 0)) <= (time.time() if now is None else now):
            raise ForbiddenError("the steering session has expired")
        return data
