"""The license process: gRPC `IssueToken` for the Play API, and the key endpoint for players
through the gateway:

    GET /api/license/key/{title_id}?t=<play token>   → the title's 16-byte AES-128 key

A key goes only to an unexpired, genuine play token for that very title; every request is
logged with member, title, device, play and outcome. Keys come from the origin's key bucket
(never stored beside the segments) and are kept in memory once read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.errors import BadRequestError, ForbiddenError, NotFoundError
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.signed_urls import SCOPE
from reelcloud.platform.storage import KEYS_BUCKET, ObjectStore
from reelcloud.rpc import license_pb2, license_pb2_grpc
from reelcloud.services.license.tokens import PlayGrant, PlayTokens

log = logging.getLogger(__name__)

KEY_PATH = "/api/license/key/{title_id}"


class LicenseSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_ttl_s: int = Field(default=6 * 3600, gt=0)


class Keys:
    """Content keys by (title, key id), read from the origin's key bucket once."""

    def __init__(self, origin: ObjectStore | None) -> None:
        self.origin = origin
        self._keys: dict[tuple[str, str], bytes] = {}

    async def get(self, title_id: str, key_id: str) -> bytes:
        cached = self._keys.get((title_id, key_id))
        if cached is None:
            if self.origin is None:
                raise NotFoundError("no key store configured")
            cached = await self.origin.get(KEYS_BUCKET, f"{title_id}/{key_id}.key")
            self._keys[(title_id, key_id)] = cached
        return cached


TOKENS = web.AppKey("play_tokens", PlayTokens)
KEYS = web.AppKey("content_keys", Keys)
OPTIONS = web.AppKey("license_options", LicenseSettings)


async def key(request: web.Request) -> web.Response:
    title_id = request.match_info["title_id"]
    token = request.query.get("t", "")
    who = f"title={title_id[:40]!r} client={request.headers.get('X-Forwarded-For', request.remote)}"
    try:
        if not SCOPE.match(title_id):
            raise BadRequestError("not a title id")
        grant = request.app[TOKENS].verify(token)
        if grant.title_id != title_id:
            raise ForbiddenError("this play token is for another title", code="wrong_title")
        data = await request.app[KEYS].get(title_id, grant.key_id)
    except (BadRequestError, ForbiddenError, NotFoundError) as exc:
        log.info("key refused: %s reason=%s", who, exc.code)
        raise
    log.info(
        "key issued: %s member=%s device=%s play=%s",
        who,
        grant.member_id,
        grant.device_id,
        grant.play_id,
    )
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={"Cache-Control": "no-store"},
    )


class LicenseServicer(license_pb2_grpc.LicenseServicer):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def IssueToken(self, request: Any, context: Any) -> Any:
        if not SCOPE.match(request.title_id) or not request.member_id or not request.play_id:
            raise BadRequestError("member_id, title_id and play_id are required")
        if not request.key_id:
            raise BadRequestError("key_id is required")
        ttl = min(request.ttl_s or self.app[OPTIONS].token_ttl_s, self.app[OPTIONS].token_ttl_s)
        expires = int(time.time()) + ttl
        token = self.app[TOKENS].issue(
            PlayGrant(
                request.member_id,
                request.title_id,
                request.device_id,
                request.play_id,
                request.key_id,
                expires,
            )
        )
        path = KEY_PATH.format(title_id=request.title_id) + f"?t={token}"
        return license_pb2.IssueTokenResponse(token=token, expires_at=expires, key_path=path)


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    app[OPTIONS] = service_options(settings, LicenseSettings)
    app[TOKENS] = PlayTokens(settings.session_secret.get_secret_value())
    app.router.add_get(KEY_PATH, key)
    app[STATE].rpc.add(
        license_pb2_grpc.add_LicenseServicer_to_server,
        LicenseServicer(app),
        license_pb2.DESCRIPTOR.services_by_name["License"].full_name,
    )

    async def origin(app: web.Application) -> AsyncIterator[None]:
        store = ObjectStore.from_settings(settings) if settings.s3_url else None
        if store is not None:
            await store.start()
        app[KEYS] = Keys(store)
        yield
        if store is not None:
            await store.aclose()

    app.cleanup_ctx.append(origin)
    return app
