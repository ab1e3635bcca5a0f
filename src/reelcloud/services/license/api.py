"""The license process: gRPC `IssueToken` for the Play API, and the key endpoint for players
through the gateway:

    GET /api/license/key/{title_id}?t=<play token>   → the title's 16-byte AES-128 key

Every key request is logged with member, title, device, play and outcome.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.edge import client_address
from reelcloud.platform.errors import RequestError
from reelcloud.platform.openapi import Operation, Parameter, Raw, serve_fragment
from reelcloud.platform.revocations import Revocations
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.signed_urls import SCOPE
from reelcloud.platform.storage import ObjectStore
from reelcloud.rpc import license_pb2, license_pb2_grpc
from reelcloud.services.license.models import KEY_PATH, KeyQuery
from reelcloud.services.license.service import LicenseService
from reelcloud.services.license.settings import LicenseSettings
from reelcloud.services.license.store import ContentKeys
from reelcloud.services.license.tokens import PlayTokens

log = logging.getLogger(__name__)

SERVICE = web.AppKey("license_service", LicenseService)

_TITLE_ID = Parameter("title_id", "path", {"type": "string", "pattern": SCOPE.pattern})
_TOKEN = Parameter(
    "t", "query", {"type": "string"}, required=False, description="the play token of this play"
)
OPERATIONS = [
    Operation("GET", KEY_PATH, "A title's AES-128 key, for a play token of that title",
              {200: Raw("application/octet-stream", binary=True)},
              parameters=(_TITLE_ID, _TOKEN), errors=(403, 404)),
]  # fmt: skip


async def key(request: web.Request) -> web.Response:
    title_id = request.match_info["title_id"]
    who = f"title={title_id[:40]!r} client={client_address(request.headers, request.remote)}"
    try:
        query = KeyQuery(t=request.query.get("t", ""))
        data, grant = await request.app[SERVICE].key(title_id, query.t)
    except RequestError as exc:
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
        issued = self.app[SERVICE].issue_token(
            member_id=request.member_id,
            title_id=request.title_id,
            device_id=request.device_id,
            play_id=request.play_id,
            key_id=request.key_id,
            session_id=request.session_id,
            ttl_s=request.ttl_s,
        )
        return license_pb2.IssueTokenResponse(
            token=issued.token, expires_at=issued.expires_at, key_path=issued.key_path
        )


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    options = service_options(settings, LicenseSettings)
    tokens = PlayTokens(settings.required_secret("session_secret"))
    kek = settings.required_secret("content_kek")
    revocations = Revocations(settings.nats_url)
    app.router.add_get(KEY_PATH, key)
    serve_fragment(app, "license", OPERATIONS)
    app[STATE].rpc.add(
        license_pb2_grpc.add_LicenseServicer_to_server,
        LicenseServicer(app),
        license_pb2.DESCRIPTOR.services_by_name["License"].full_name,
    )

    async def origin(app: web.Application) -> AsyncIterator[None]:
        store = ObjectStore.from_settings(settings) if settings.s3_url else None
        if store is not None:
            await store.start()
        await revocations.start()
        app[SERVICE] = LicenseService(
            tokens, ContentKeys(store, kek), token_ttl_s=options.token_ttl_s,
            revocations=revocations,
        )  # fmt: skip
        yield
        await revocations.aclose()
        if store is not None:
            await store.aclose()

    app.cleanup_ctx.append(origin)
    return app
