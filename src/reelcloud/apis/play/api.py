"""The Play API over HTTP: each handler parses, calls `PlayService`, renders. `create_app`
wires the settings, the cache, the dependencies, the store and the service."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import AsyncIterator
from urllib.parse import quote

import orjson
from aiohttp import web
from pydantic import BaseModel

from reelcloud.apis.play.models import (
    Caller,
    Heartbeat,
    HeartbeatResponse,
    PlayRequest,
    PlayResponse,
    StopResponse,
)
from reelcloud.apis.play.service import PlayService
from reelcloud.apis.play.settings import PlaySettings
from reelcloud.apis.play.store import PlayStore
from reelcloud.platform import edge
from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.cache import build_lookup_cache
from reelcloud.platform.cache.metrics import LookupCacheCollector
from reelcloud.platform.errors import BadRequestError, NotFoundError
from reelcloud.platform.events import EventMetrics, EventPayload, EventProducer
from reelcloud.platform.openapi import Operation, Parameter, Raw, serve_fragment
from reelcloud.platform.revocations import Revocations
from reelcloud.platform.rpc.dependency import Dependency
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.signed_blobs import SignedBlobs
from reelcloud.platform.storage import ObjectStore
from reelcloud.platform.validation import ascii_int, parse_body
from reelcloud.rpc import (
    accounts_pb2_grpc,
    catalog_pb2_grpc,
    license_pb2_grpc,
    playback_pb2_grpc,
    steering_pb2_grpc,
)

SERVICE = web.AppKey("play_service", PlayService)
HLS = "application/vnd.apple.mpegurl"


def caller(request: web.Request) -> Caller:
    member_id, session_id = edge.caller(request.headers)
    client = edge.client_address(request.headers, request.remote)
    network = request.headers.get(edge.NETWORK_HEADER, "")
    for name, address in (("the client address", client), (edge.NETWORK_HEADER, network)):
        if address:
            try:
                ipaddress.ip_address(address)
            except ValueError as exc:
                raise BadRequestError(f"{name} is not an IP address") from exc
    return Caller(member_id, session_id, client_address=client, network=network)


def json_response(model: BaseModel) -> web.Response:
    return web.Response(body=orjson.dumps(model.model_dump()), content_type="application/json")


async def start_play(request: web.Request) -> web.Response:
    body = parse_body(PlayRequest, await request.read(), "play")
    try:
        answer = await request.app[SERVICE].play(caller(request), body)
    except NotFoundError as exc:  # a title, profile or device that is not (the member's)
        raise NotFoundError(exc.message.rsplit(": ", 1)[-1]) from exc
    return json_response(answer)


def _session(request: web.Request) -> tuple[PlayService, str]:
    return request.app[SERVICE], request.query.get("s", "")


async def master(request: web.Request) -> web.Response:
    service, blob = _session(request)
    session = service.session(blob, request.match_info["play_id"], _member(request))
    return web.Response(text=await service.master(session, blob), content_type=HLS)


async def media(request: web.Request) -> web.Response:
    service, blob = _session(request)
    session = service.session(blob, request.match_info["play_id"], _member(request))
    pathway = ascii_int(request.match_info["pathway"], max_digits=3)  # not "+0", "0_0", " 0"
    if pathway is None:
        raise NotFoundError("no such pathway in this play")
    text = await service.media(session, pathway, request.match_info["file"])
    return web.Response(text=text, content_type=HLS)


async def dash(request: web.Request) -> web.Response:
    service, blob = _session(request)
    session = service.session(blob, request.match_info["play_id"], _member(request))
    return web.Response(text=await service.mpd(session), content_type="application/dash+xml")


async def heartbeat(request: web.Request) -> web.Response:
    service, blob = _session(request)
    session = service.session(blob, request.match_info["play_id"], _member(request))
    beat = parse_body(Heartbeat, await request.read(), "heartbeat")
    return json_response(await service.heartbeat(session, beat))


async def stop(request: web.Request) -> web.Response:
    service, blob = _session(request)
    session = service.session(blob, request.match_info["play_id"], _member(request))
    raw = await request.read()
    beat = parse_body(Heartbeat, raw, "stop") if raw else Heartbeat(position_s=0)
    return json_response(await service.stop(session, beat))


def _member(request: web.Request) -> str:
    """A play's documents need the member who started it (a session id is not required:
    the signed play context names the member)."""
    return request.headers.get(edge.MEMBER_HEADER, "")


_PLAY_ID = Parameter("play_id", "path", {"type": "string"})
_BLOB = Parameter("s", "query", {"type": "string"}, description="the play's signed context")
OPERATIONS = [
    Operation("POST", "/api/play", "Start a play: OCAs, playlists, key and report URLs",
              {200: PlayResponse}, body=PlayRequest, errors=(403, 404, 409, 503),
              auth="required"),
    Operation("GET", "/api/play/{play_id}/master.m3u8", "The HLS multivariant playlist",
              {200: Raw(HLS)}, parameters=(_PLAY_ID, _BLOB), errors=(403,), auth="required"),
    Operation("GET", "/api/play/{play_id}/media/{pathway}/{file}",
              "A media playlist on one pathway's OCA", {200: Raw(HLS)},
              parameters=(_PLAY_ID, Parameter("pathway", "path", {"type": "integer"}),
                          Parameter("file", "path", {"type": "string"}), _BLOB),
              errors=(403, 404), auth="required"),
    Operation("GET", "/api/play/{play_id}/manifest.mpd", "The DASH MPD",
              {200: Raw("application/dash+xml")}, parameters=(_PLAY_ID, _BLOB),
              errors=(403,), auth="required"),
    Operation("POST", "/api/play/{play_id}/heartbeat", "Position and QoE of a play",
              {200: HeartbeatResponse}, body=Heartbeat, parameters=(_PLAY_ID, _BLOB),
              errors=(403, 503), auth="required"),
    Operation("POST", "/api/play/{play_id}/stop", "End a play and free its stream slot",
              {200: StopResponse}, body=Heartbeat, parameters=(_PLAY_ID, _BLOB),
              errors=(403, 503), auth="required"),
]  # fmt: skip


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    state = app[STATE]
    options = service_options(settings, PlaySettings)
    accounts = Dependency(
        state, "accounts", accounts_pb2_grpc.AccountsStub, options.accounts_timeout_ms
    )
    catalog = Dependency(state, "catalog", catalog_pb2_grpc.CatalogStub, options.catalog_timeout_ms)
    playback = Dependency(
        state, "playback", playback_pb2_grpc.PlaybackStub, options.playback_timeout_ms
    )
    steering = Dependency(
        state, "steering", steering_pb2_grpc.SteeringStub, options.steering_timeout_ms
    )
    license = Dependency(state, "license", license_pb2_grpc.LicenseStub, options.license_timeout_ms)
    cache = build_lookup_cache(
        settings,
        "play-api",
        replicated=options.replicated_cache,
        near_entries=options.near_cache_entries,
    )
    state.metrics.registry.register(LookupCacheCollector(cache, "play-api"))
    origin = ObjectStore.from_settings(settings) if settings.s3_url else None
    store = PlayStore(
        cache, accounts=accounts, catalog=catalog, steering=steering, origin=origin, options=options
    )
    events: EventProducer | None = None
    revocations = Revocations(settings.nats_url)

    def emit(event: EventPayload) -> None:
        if events is not None:
            events.publish(event)

    service = PlayService(
        store,
        playback=playback,
        license=license,
        blobs=SignedBlobs(settings.required_secret("session_secret"), "play session"),
        options=options,
        emit=emit,
        revocations=revocations,
    )
    app[SERVICE] = service
    app.router.add_post("/api/play", start_play)
    app.router.add_get("/api/play/{play_id}/master.m3u8", master)
    app.router.add_get("/api/play/{play_id}/media/{pathway}/{file}", media)
    app.router.add_get("/api/play/{play_id}/manifest.mpd", dash)
    app.router.add_post("/api/play/{play_id}/heartbeat", heartbeat)
    app.router.add_post("/api/play/{play_id}/stop", stop)
    serve_fragment(app, "play-api", OPERATIONS)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        nonlocal events
        if origin is not None:
            await origin.start()
        await revocations.start()
        if settings.nats_url:
            events = EventProducer(
                settings.nats_url,
                producer_id=f"{settings.instance_id or 'play-api'}-{os.getpid()}",
                spool_dir=settings.data_dir / "spool" / quote(settings.instance_id or "play-api"),
                metrics=EventMetrics(state.metrics.registry),  # dead letters on /metrics
            )
            await events.start()
        yield
        if events is not None:
            await events.aclose(drain_timeout_s=2)
        await revocations.aclose()
        for dependency in (accounts, catalog, playback, steering, license):
            await dependency.aclose()
        await cache.aclose()
        if origin is not None:
            await origin.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app
