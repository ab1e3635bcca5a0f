"""The playback process (gRPC only): Authorize, Heartbeat, Stop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.database import open_database
from reelcloud.platform.errors import BadRequestError, NotFoundError
from reelcloud.platform.settings import Settings, service_options
from reelcloud.rpc import playback_pb2, playback_pb2_grpc
from reelcloud.services.playback.rules import decide
from reelcloud.services.playback.store import SCHEMA, StreamSlots

log = logging.getLogger(__name__)


class PlaybackSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A play that sent no heartbeat for this long no longer holds a stream slot.
    silence_s: float = Field(default=90.0, gt=0)


SLOTS = web.AppKey("stream_slots", StreamSlots)


class PlaybackServicer(playback_pb2_grpc.PlaybackServicer):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def Authorize(self, request: Any, context: Any) -> Any:
        viewer, title = request.viewer, request.title
        if not viewer.member_id or not title.title_id:
            raise BadRequestError("viewer.member_id and title.title_id are required")
        decision = decide(
            status=viewer.status,
            licensed=title.licensed,
            country=viewer.country,
            title_maturity=title.maturity,
            profile_maturity=viewer.profile_maturity,
            plan_max_height=viewer.plan_max_height,
            device_max_height=viewer.device_max_height,
            rungs=[(r.name, r.height) for r in title.rungs],
        )
        if not decision.allowed:
            return playback_pb2.AuthorizeResponse(
                allowed=False, reason=decision.reason, message=decision.message
            )
        play_id = await self.app[SLOTS].reserve(
            viewer.member_id,
            viewer.profile_id,
            viewer.device_id,
            title.title_id,
            viewer.max_streams,
        )
        if play_id is None:
            return playback_pb2.AuthorizeResponse(
                allowed=False,
                reason="too_many_streams",
                message=f"Your {viewer.plan} plan streams on {viewer.max_streams} "
                "screen(s) at a time: stop another one first.",
            )
        return playback_pb2.AuthorizeResponse(
            allowed=True, play_id=play_id, rungs=list(decision.rungs)
        )

    async def Heartbeat(self, request: Any, context: Any) -> Any:
        active = await self.app[SLOTS].heartbeat(request.play_id, request.member_id)
        if not active:
            raise NotFoundError("no such active play for this member")
        return playback_pb2.HeartbeatResponse(active=True)

    async def Stop(self, request: Any, context: Any) -> Any:
        stopped = await self.app[SLOTS].stop(request.play_id, request.member_id)
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
        app[SLOTS] = StreamSlots(pool, options.silence_s)
        yield
        await pool.close()

    app.cleanup_ctx.append(database)
    return app
