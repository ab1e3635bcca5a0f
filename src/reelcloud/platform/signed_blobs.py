"""Signed blobs: small JSON documents packed into one URL-safe value, so a service can put a
play's context in a URL instead of keeping per-play state (steering manifests, the Play API's
playlists). Each use has its own purpose string, so a blob made for one is refused by another.
Blobs carry their expiry as `x` (unix seconds)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

from reelcloud.platform.errors import BadRequestError, ForbiddenError
from reelcloud.platform.signatures import signatures_match

MAX_BLOB = 8192


class SignedBlobs:
    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hashlib.sha256(purpose.encode() + b":" + secret.encode()).digest()
        self.purpose = purpose

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, data: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=")
        return f"{payload.decode()}.{self._mac(payload)}"

    def decode(self, value: str, now: float | None = None) -> dict[str, Any]:
        payload, dot, signature = value.partition(".")
        if not dot or len(value) > MAX_BLOB or not value.isascii():  # URL-safe base64 is ASCII
            raise BadRequestError(f"the {self.purpose} is malformed")
        if not signatures_match(self._mac(payload.encode()), signature):
            raise ForbiddenError(f"the {self.purpose}'s signature does not match")
        try:
            data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise BadRequestError(f"the {self.purpose} is malformed") from exc
        if not isinstance(data, dict):
            raise BadRequestError(f"the {self.purpose} is malformed")
        if float(data.get("x", 0)) <= (time.time() if now is None else now):
            raise ForbiddenError(f"the {self.purpose} has expired")
        return data
