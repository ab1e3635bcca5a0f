"""Steering over gRPC (`Steer`, for the Play API) and HTTP (the content-steering manifest at
/steering/v1/manifest through the gateway; /v1/table for people); handlers only translate to
`SteeringService` calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.discovery import ServiceHttpClient
from reelcloud.platform.errors import BadRequestError, ConfigurationError
from reelcloud.platform.openapi import Operation, Parameter, serve_fragment
from reelcloud.platform.settings import Settings, service_options
from reelcloud.rpc import steering_pb2, steering_pb2_grpc
from reelcloud.services.steering.models import SteerAnswer, SteeringManifest
from reelcloud.services.steering.service import MANIFEST_PATH, SteeringService
from reelcloud.services.steering.settings import SteeringSettings
from reelcloud.services.steering.store import CacheControlState

STEERING = web.AppKey("steering", SteeringService)

OPERATIONS = [
    Operation("GET", MANIFEST_PATH, "A play's content-steering manifest: its OCAs, best first now",
              {200: SteeringManifest},
              parameters=(Parameter("s", "query", {"type": "string", "minLength": 1},
                                    description="the steering session the play was given"),
                          Parameter("f", "query", {"type": "string", "enum": ["hls", "dash"]},
                                    required=False, description="the format (default hls)")),
              errors=(403,)),
]  # fmt: skip


async def steering_manifest(request: web.Request) -> web.Response:
    session = request.query.get("s", "")
    if not session:
        raise BadRequestError("s (the steering session) is required")
    manifest = request.app[STEERING].manifest(session, request.query.get("f", "hls"))
    return web.Response(
        body=manifest.model_dump_json(by_alias=True, exclude_none=True),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def steering_table(request: web.Request) -> web.Response:
    view = request.app[STEERING].table_view()
    return web.Response(body=view.model_dump_json(), content_type="application/json")


def steer_response(answer: SteerAnswer) -> Any:
    return steering_pb2.SteerResponse(
        candidates=[
            steering_pb2.Candidate(
                oca_id=c.oca_id,
                site=c.site,
                site_kind=c.site_kind,
                base_url=c.base_url,
                rank=c.rank,
                reason=c.reason,
            )
            for c in answer.candidates
        ],
        expires_at=answer.expires_at,
        steering_path=answer.steering_path,
    )


class SteeringServicer(steering_pb2_grpc.SteeringServicer):
    def __init__(self, steering: SteeringService) -> None:
        self.steering = steering

    async def Steer(self, request: Any, context: Any) -> Any:
        answer = self.steering.steer(
            title_id=request.title_id,
            client_address=request.client_address,
            network_address=request.network_address,
            content_ids=list(request.content_ids),
            max_results=request.max_results,
        )
        return steer_response(answer)


def create_app(settings: Settings) -> web.Application:
    openconnect = settings.topology.openconnect
    if openconnect is None:
        raise ConfigurationError("steering needs an `openconnect:` topology section")
    app = create_service_app(settings)
    state = app[STATE]
    steering = SteeringService(openconnect, service_options(settings, SteeringSettings))
    app[STEERING] = steering
    app.router.add_get(MANIFEST_PATH, steering_manifest)
    app.router.add_get("/v1/table", steering_table)
    serve_fragment(app, "steering", OPERATIONS)
    state.rpc.add(
        steering_pb2_grpc.add_SteeringServicer_to_server,
        SteeringServicer(steering),
        steering_pb2.DESCRIPTOR.services_by_name["Steering"].full_name,
    )

    async def poller(app: web.Application) -> AsyncIterator[None]:
        source = CacheControlState(ServiceHttpClient(state.discovery, "cache-control"))
        task = asyncio.create_task(steering.poll_forever(source))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.aclose()

    async def state_loaded() -> bool:
        return steering.loaded

    state.readiness_checks.append(state_loaded)
    app.cleanup_ctx.append(poller)
    return app
