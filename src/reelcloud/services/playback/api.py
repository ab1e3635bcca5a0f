"""The playback process (gRPC only): Authorize, Heartbeat, Stop, translated to the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.database import open_database
from reelcloud.platform.settings import Settings, service_options
from reelcloud.rpc import playback_pb2, playback_pb2_grpc
from reelcloud.services.playback.models import TitleFacts, Viewer
from reelcloud.services.playback.service import PlaybackService
from reelcloud.services.playback.settings import PlaybackSettings
from reelcloud.services.playback.store import SCHEMA, StreamSlots

SERVICE = web.AppKey("playback_service", PlaybackService)


def viewer_of(message: Any) -> Viewer:
    return Viewer(
        member_id=message.member_id,
        country=message.country,
        plan=message.plan,
        status=message.status,
        plan_max_height=message.plan_max_height,
        max_streams=message.max_streams,
        profile_id=message.profile_id,
        profile_maturity=message.profile_maturity,
        device_id=message.device_id,
        device_max_height=message.device_max_height,
    )


def title_of(message: Any) -> TitleFacts:
    return TitleFacts(
        title_id=message.title_id,
        maturity=message.maturity,
        licensed=message.licensed,
        rungs=tuple((r.name, r.height) for r in message.rungs),
    )


class PlaybackServicer(playback_pb2_grpc.PlaybackServicer):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def Authorize(self, request: Any, context: Any) -> Any:
        answer = await self.app[SERVICE].authorize(
            viewer_of(request.viewer), title_of(request.title)
        )
        return playback_pb2.AuthorizeResponse(
            allowed=answer.allowed,
            reason=answer.reason,
            message=answer.message,
            play_id=answer.play_id,
            rungs=list(answer.rungs),
        )

    async def Heartbeat(self, request: Any, context: Any) -> Any:
        await self.app[SERVICE].heartbeat(request.play_id, request.member_id)
        return playback_pb2.HeartbeatResponse(active=True)

    async def Stop(self, request: Any, context: Any) -> Any:
        stopped = await self.app[SERVICE].stop(request.play_id, request.member_id)
        return playback_pb2.StopResponse(stopped=stopped)


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    options = service_options(settings, PlaybackSettings)
    app[STATE].rpc.add(
        playback_pb2_grpc.add_PlaybackServicer_to_server,
        PlaybackServicer(app),
        playback_pb2.DESCRIPTOR.services_by_name["Playback"].full_name,
    )

    async def database(app: web.Application) -> AsyncIterator[None]:
        pool = await open_database(settings, "playback", SCHEMA)
        app[SERVICE] = PlaybackService(StreamSlots(pool, options.silence_s))
        yield
        await pool.close()

    app.cleanup_ctx.append(database)
    return app
