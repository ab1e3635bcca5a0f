"""The Play API (HTTP behind the gateway, orchestration only).

    POST /api/play                         {title_id, profile_id, device_id} → a play
    GET  /api/play/{id}/master.m3u8?s=…    the HLS multivariant playlist (content steering)
    GET  /api/play/{id}/media/{n}/{file}?s=…   a media playlist on pathway n's OCA
    GET  /api/play/{id}/manifest.mpd?s=…   the DASH MPD (BaseURL per OCA, ContentSteering)
    POST /api/play/{id}/heartbeat?s=…      {position_s, qoe} → bookmark and QoE
    POST /api/play/{id}/stop?s=…           frees the stream slot

A play runs its dependencies as commands, in parallel where independent: the member, profile
and device (accounts) with the title (catalog); then the decision and stream slot (playback);
then steering and the play token (license). Each has its own timeout and breaker. Catalog
falls back to the last title it returned, steering to the last answer for the client's network
and title; only the authorisation dependencies (accounts, playback) and license fail a play —
fast, with 503 and the dependency's name. Denials are 403 with a machine-readable reason.

The play's context (pathways, rungs, key URL) travels in a signed blob (`s`), so any Play API
instance answers any request of any play.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from reelcloud.apis.play import documents
from reelcloud.apis.play.caches import TtlCache
from reelcloud.apis.play.events import (
    PlayDenied,
    PlayHeartbeat,
    PlayRequested,
    PlayStarted,
    PlayStopped,
)
from reelcloud.platform.app import STATE, ServiceState, create_service_app
from reelcloud.platform.errors import (
    BadRequestError,
    CommandError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from reelcloud.platform.events import EventPayload, EventProducer
from reelcloud.platform.rpc import RpcClient
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.signed_blobs import SignedBlobs
from reelcloud.platform.signed_urls import SCOPE, client_network
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore
from reelcloud.platform.validation import parse_body
from reelcloud.rpc import (
    accounts_pb2,
    accounts_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    license_pb2,
    license_pb2_grpc,
    playback_pb2,
    playback_pb2_grpc,
    steering_pb2,
    steering_pb2_grpc,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\.m3u8$")
MEMBER_HEADER = "X-Reelcloud-Member"
SESSION_HEADER = "X-Reelcloud-Session"
NETWORK_HEADER = "X-Reelcloud-Network"  # the simulated network a browser says it sits in
FALLBACK_ENTRIES = 10_000


@dataclass
class TitleInfo:
    """A catalog answer, with what every play of it needs worked out once."""

    title: Any
    manifest: dict[str, Any]
    rungs: list[Any]
    _content_ids: dict[tuple[str, ...], list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, title: Any) -> TitleInfo:
        manifest = orjson.loads(title.manifest_json)
        rungs = [
            playback_pb2.Rung(name=r["name"], height=int(r["height"])) for r in manifest["rungs"]
        ]
        return cls(title, manifest, rungs)

    def content_ids(self, rungs: list[str]) -> list[str]:
        key = tuple(rungs)
        if key not in self._content_ids:
            self._content_ids[key] = hls_content_ids(self.manifest, rungs)
        return self._content_ids[key]


class PlaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Per dependency: how long a call may take before its fallback (or a 503).
    accounts_timeout_ms: int = Field(default=250, gt=0)
    catalog_timeout_ms: int = Field(default=150, gt=0)
    playback_timeout_ms: int = Field(default=250, gt=0)
    steering_timeout_ms: int = Field(default=100, gt=0)
    license_timeout_ms: int = Field(default=200, gt=0)
    play_ttl_s: int = Field(default=6 * 3600, gt=0)
    # How long an answer is reused before asking again (stale ones still serve as fallbacks).
    # A signed-out session keeps playing for at most member_cache_s.
    title_cache_s: float = Field(default=30.0, ge=0)
    member_cache_s: float = Field(default=5.0, ge=0)
    account_cache_s: float = Field(default=60.0, ge=0)  # profiles and devices
    steering_cache_s: float = Field(default=2.0, ge=0)


class PlayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title_id: str = Field(pattern=SCOPE.pattern)
    profile_id: str = Field(pattern=ID.pattern)
    device_id: str = Field(pattern=ID.pattern)


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position_s: float = Field(ge=0, le=7 * 24 * 3600)
    qoe: dict[str, float | int | str | bool] = Field(default={}, max_length=50)


class Dependency:
    """One downstream service: its RPC client, its command name and timeout."""

    def __init__(self, state: ServiceState, service: str, stub: Any, timeout_ms: int) -> None:
        self.client = RpcClient(state.discovery, service, stub)
        self.service = service
        self.timeout_s = timeout_ms / 1000
        state.commands.config.set_command(service, timeout_ms=timeout_ms)
        # Hystrix's default of 10 concurrent calls is for one thread pool; plays fan out.
        state.commands.config.set_group(service, max_concurrent=500)

    async def call(
        self,
        runner: Any,
        method: str,
        request: Any,
        fallbacks: list[Callable[[], Awaitable[Any] | Any]] | None = None,
    ) -> Any:
        async def run() -> Any:
            return await self.client.call(method, request, timeout_s=self.timeout_s)

        try:
            return await runner.execute(self.service, run, fallbacks=fallbacks or [])
        except (CommandError, UnavailableError) as exc:
            # Timed out, short-circuited, rejected or failed, with no working fallback.
            raise UnavailableError(
                f"{self.service} is unavailable ({exc.message}); try again shortly",
                code=f"{self.service}_unavailable",
            ) from exc


class PlayApi:
    def __init__(self, settings: Settings, state: ServiceState, options: PlaySettings) -> None:
        self.settings = settings
        self.state = state
        self.options = options
        self.accounts = Dependency(
            state, "accounts", accounts_pb2_grpc.AccountsStub, options.accounts_timeout_ms
        )
        self.catalog = Dependency(
            state, "catalog", catalog_pb2_grpc.CatalogStub, options.catalog_timeout_ms
        )
        self.playback = Dependency(
            state, "playback", playback_pb2_grpc.PlaybackStub, options.playback_timeout_ms
        )
        self.steering = Dependency(
            state, "steering", steering_pb2_grpc.SteeringStub, options.steering_timeout_ms
        )
        self.license = Dependency(
            state, "license", license_pb2_grpc.LicenseStub, options.license_timeout_ms
        )
        self.blobs = SignedBlobs(settings.session_secret.get_secret_value(), "play session")
        self.titles: TtlCache[str, TitleInfo] = TtlCache(options.title_cache_s, 10_000)
        self.members: TtlCache[tuple[str, str], Any] = TtlCache(options.member_cache_s, 100_000)
        self.owned: TtlCache[tuple[str, str, str], Any] = TtlCache(options.account_cache_s, 100_000)
        self.steered: TtlCache[tuple[str, str, tuple[str, ...]], Any] = TtlCache(
            options.steering_cache_s, FALLBACK_ENTRIES
        )
        self.templates: dict[tuple[str, str], str] = {}  # stored playlists and MPDs, immutable
        self.origin = ObjectStore.from_settings(settings) if settings.s3_url else None
        self.events: EventProducer | None = None

    def emit(self, event: EventPayload) -> None:
        if self.events is not None:
            self.events.publish(event)

    # ---- dependencies, each with its fallback policy ----------------------------------------

    async def title(self, title_id: str) -> TitleInfo:
        cached = self.titles.fresh(title_id)
        if cached is not None:
            return cached
        request = catalog_pb2.GetTitleRequest(title_id=title_id)

        def last_good() -> Any:
            stale = self.titles.stale(title_id)
            if stale is None:
                raise UnavailableError("catalog is unavailable and this title is not cached")
            return stale.title

        title = await self.catalog.call(self.state.commands, "GetTitle", request, [last_good])
        info = self.titles.stale(title_id)
        if info is None or info.title is not title:
            info = TitleInfo.of(title)
            self.titles.put(title_id, info)
        return info

    async def account(self, kind: str, member_id: str, item_id: str) -> Any:
        """A profile or device of the member (cached: they change rarely)."""
        key = (kind, member_id, item_id)
        cached = self.owned.fresh(key)
        if cached is None:
            if kind == "profile":
                method = "GetProfile"
                request: Any = accounts_pb2.GetProfileRequest(
                    member_id=member_id, profile_id=item_id
                )
            else:
                method = "GetDevice"
                request = accounts_pb2.GetDeviceRequest(member_id=member_id, device_id=item_id)
            cached = await self.accounts.call(self.state.commands, method, request)
            self.owned.put(key, cached)
        return cached

    async def member(self, member_id: str, session_id: str) -> Any:
        """The member, with the session checked (at most `member_cache_s` ago)."""
        key = (member_id, session_id)
        cached = self.members.fresh(key)
        if cached is None:
            request = accounts_pb2.GetMemberRequest(member_id=member_id, session_id=session_id)
            cached = await self.accounts.call(self.state.commands, "GetMember", request)
            self.members.put(key, cached)
        return cached

    async def steer(self, request: Any, network: str, rungs: list[str]) -> tuple[Any, bool]:
        key = (network, request.title_id, tuple(rungs))
        cached = self.steered.fresh(key)
        if cached is not None:
            return cached, False
        used_fallback = False

        def last_good() -> Any:
            nonlocal used_fallback
            stale = self.steered.stale(key)
            if stale is None:
                raise UnavailableError("steering is unavailable and this network has no answer")
            used_fallback = True
            return stale

        answer = await self.steering.call(self.state.commands, "Steer", request, [last_good])
        if not used_fallback:
            self.steered.put(key, answer)
        return answer, used_fallback

    async def template(self, title_id: str, name: str) -> str:
        cached = self.templates.get((title_id, name))
        if cached is None:
            if self.origin is None:
                raise UnavailableError("no origin configured for playlists")
            data = await self.origin.get(ASSETS_BUCKET, f"titles/{title_id}/{name}")
            cached = self.templates[(title_id, name)] = data.decode()
        return cached

    # ---- a play ---------------------------------------------------------------------------------

    async def play(self, request: web.Request, body: PlayRequest) -> dict[str, Any]:
        started = time.perf_counter()
        member_id, session_id = caller(request)
        client = client_address(request)
        network = request.headers.get(NETWORK_HEADER, "")
        if network:
            try:
                ipaddress.ip_address(network)
            except ValueError as exc:
                raise BadRequestError(f"{NETWORK_HEADER} is not an IP address") from exc
        self.emit(
            PlayRequested(
                member_id=member_id,
                title_id=body.title_id,
                profile_id=body.profile_id,
                device_id=body.device_id,
                client_address=client,
            )
        )
        runner = self.state.commands
        member, profile, device, info = await gather(
            self.member(member_id, session_id),
            self.account("profile", member_id, body.profile_id),
            self.account("device", member_id, body.device_id),
            self.title(body.title_id),
        )
        title, manifest = info.title, info.manifest
        licensed = any(w.country == member.country and w.active for w in title.licenses)
        decision = await self.playback.call(
            runner,
            "Authorize",
            playback_pb2.AuthorizeRequest(
                viewer=playback_pb2.Viewer(
                    member_id=member.id,
                    country=member.country,
                    plan=member.plan,
                    status=member.status,
                    plan_max_height=member.max_height,
                    max_streams=member.max_streams,
                    profile_id=profile.id,
                    profile_maturity=profile.maturity,
                    device_id=device.id,
                    device_max_height=device.max_height,
                ),
                title=playback_pb2.TitleFacts(
                    title_id=title.id,
                    maturity=title.maturity,
                    licensed=licensed,
                    rungs=info.rungs,
                ),
            ),
        )
        if not decision.allowed:
            self.emit(PlayDenied(member_id=member_id, title_id=title.id, reason=decision.reason))
            raise ForbiddenError(decision.message, code=decision.reason)
        rungs = list(decision.rungs)
        content_ids = info.content_ids(rungs)
        (steered, used_fallback), token = await gather(
            self.steer(
                steering_pb2.SteerRequest(
                    client_address=client,
                    network_address=network,
                    title_id=title.id,
                    content_ids=content_ids,
                ),
                client_network(network or client),
                rungs,
            ),
            self.license.call(
                runner,
                "IssueToken",
                license_pb2.IssueTokenRequest(
                    member_id=member.id,
                    title_id=title.id,
                    device_id=device.id,
                    play_id=decision.play_id,
                    key_id=manifest["encryption"]["key_id"],
                    ttl_s=self.options.play_ttl_s,
                ),
            ),
        )
        pathways = [documents.Pathway(c.oca_id, c.base_url) for c in steered.candidates]
        play_id = decision.play_id
        session = self.blobs.encode(
            {
                "p": play_id,
                "m": member.id,
                "f": profile.id,
                "t": title.id,
                "r": rungs,
                "o": [[w.oca_id, w.base_url] for w in pathways],
                "k": token.key_path,
                "s": steered.steering_path,
                "x": min(int(steered.expires_at or time.time() + 3600), token.expires_at),
            }
        )
        latency_ms = (time.perf_counter() - started) * 1000
        self.emit(
            PlayStarted(
                play_id=play_id,
                member_id=member.id,
                profile_id=profile.id,
                title_id=title.id,
                device_id=device.id,
                country=member.country,
                rungs=rungs,
                ocas=[w.oca_id for w in pathways],
                steering_fallback=used_fallback,
                latency_ms=round(latency_ms, 2),
            )
        )
        base = f"/api/play/{play_id}"
        query = f"?s={session}"
        return {
            "play_id": play_id,
            "title_id": title.id,
            "rungs": rungs,
            "ocas": [
                {"oca_id": c.oca_id, "site": c.site, "kind": c.site_kind, "reason": c.reason}
                for c in steered.candidates
            ],
            "hls": {
                "url": f"{base}/master.m3u8{query}",
                "playlist": multivariant_for(manifest, rungs, pathways, base, query, steered),
            },
            "dash": {"url": f"{base}/manifest.mpd{query}"},
            "steering_url": steered.steering_path,
            "key_url": token.key_path,
            "heartbeat_url": f"{base}/heartbeat{query}",
            "stop_url": f"{base}/stop{query}",
            "heartbeat_interval_s": 10,
            "steering_fallback": used_fallback,
            "expires_at": token.expires_at,
        }

    def session(self, request: web.Request) -> dict[str, Any]:
        """The play's context from its signed blob; only for the member who started it."""
        session = self.blobs.decode(request.query.get("s", ""))
        if session.get("p") != request.match_info["play_id"]:
            raise ForbiddenError("this play session belongs to another play")
        member_id = request.headers.get(MEMBER_HEADER, "")
        if member_id != session.get("m"):
            raise ForbiddenError("this play belongs to another member")
        return session


def hls_content_ids(manifest: dict[str, Any], rungs: list[str]) -> list[str]:
    """Every file the HLS renditions of these rungs need (and the audio): steering returns only
    OCAs holding all of them."""
    wanted_prefixes = ["hls_"]
    indexes = [r["representation_id"] for r in manifest["rungs"] if r["name"] in rungs]
    if manifest.get("audio"):
        indexes.append(manifest["audio"]["hls_playlist"].removeprefix("hls_").split(".")[0])
    for index in indexes:
        wanted_prefixes += [f"init-{index}.", f"enc-seg-{index}-"]
    playlists = {r["hls_playlist"] for r in manifest["rungs"] if r["name"] in rungs}
    if manifest.get("audio"):
        playlists.add(manifest["audio"]["hls_playlist"])
    return [
        f["content_id"]
        for f in manifest["files"]
        if f["name"] in playlists or any(f["name"].startswith(p) for p in wanted_prefixes[1:])
    ]


def multivariant_for(
    manifest: dict[str, Any],
    rungs: list[str],
    pathways: list[documents.Pathway],
    base: str,
    query: str,
    steered: Any,
) -> str:
    media = f"{base}/media/{{pathway}}/{{playlist}}{query}"
    return documents.multivariant(
        manifest, rungs, pathways, media, f"{steered.steering_path}&f=hls"
    )


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    """Run calls in parallel; the first failure wins (the others are cancelled)."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


def caller(request: web.Request) -> tuple[str, str]:
    member_id = request.headers.get(MEMBER_HEADER, "")
    session_id = request.headers.get(SESSION_HEADER, "")
    if not member_id:
        raise UnauthenticatedError("sign in first: playing needs a session token")
    return member_id, session_id


def client_address(request: web.Request) -> str:
    """The client's address as the gateway saw it (it sets X-Forwarded-For itself)."""
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    return forwarded or (request.remote or "127.0.0.1")


API = web.AppKey("play_api", PlayApi)


async def start_play(request: web.Request) -> web.Response:
    body = parse_body(PlayRequest, await request.read(), "play")
    try:
        result = await request.app[API].play(request, body)
    except NotFoundError as exc:  # a title, profile or device that is not (the member's)
        raise NotFoundError(exc.message.rsplit(": ", 1)[-1]) from exc
    return web.Response(body=orjson.dumps(result), content_type="application/json")


async def master(request: web.Request) -> web.Response:
    api = request.app[API]
    session = api.session(request)
    manifest = (await api.title(session["t"])).manifest
    pathways = [documents.Pathway(o, b) for o, b in session["o"]]
    base = f"/api/play/{session['p']}"
    query = f"?s={request.query['s']}"
    media = f"{base}/media/{{pathway}}/{{playlist}}{query}"
    text = documents.multivariant(manifest, session["r"], pathways, media, f"{session['s']}&f=hls")
    return web.Response(text=text, content_type="application/vnd.apple.mpegurl")


async def media(request: web.Request) -> web.Response:
    api = request.app[API]
    session = api.session(request)
    name = request.match_info["file"]
    try:
        index = int(request.match_info["pathway"])
        oca_id, base_url = session["o"][index]
    except (ValueError, IndexError) as exc:
        raise NotFoundError("no such pathway in this play") from exc
    if not FILE.match(name) or not name.startswith("hls_"):
        raise NotFoundError("no such playlist")
    template = await api.template(session["t"], name)
    text = documents.media_playlist(template, documents.Pathway(oca_id, base_url), session["k"])
    return web.Response(text=text, content_type="application/vnd.apple.mpegurl")


async def dash(request: web.Request) -> web.Response:
    api = request.app[API]
    session = api.session(request)
    template = await api.template(session["t"], "manifest.mpd")
    pathways = [documents.Pathway(o, b) for o, b in session["o"]]
    text = documents.mpd(template, pathways, f"{session['s']}&f=dash")
    return web.Response(text=text, content_type="application/dash+xml")


async def heartbeat(request: web.Request) -> web.Response:
    api = request.app[API]
    session = api.session(request)
    beat = parse_body(Heartbeat, await request.read(), "heartbeat")
    await api.playback.call(
        api.state.commands,
        "Heartbeat",
        playback_pb2.HeartbeatRequest(play_id=session["p"], member_id=session["m"]),
    )
    api.emit(PlayHeartbeat(**progress(session, beat)))
    return web.json_response({"recorded": True})


async def stop(request: web.Request) -> web.Response:
    api = request.app[API]
    session = api.session(request)
    raw = await request.read()
    beat = parse_body(Heartbeat, raw, "stop") if raw else Heartbeat(position_s=0)
    answer = await api.playback.call(
        api.state.commands,
        "Stop",
        playback_pb2.StopRequest(play_id=session["p"], member_id=session["m"]),
    )
    api.emit(PlayStopped(**progress(session, beat)))
    return web.json_response({"stopped": answer.stopped})


def progress(session: dict[str, Any], beat: Heartbeat) -> dict[str, Any]:
    """What heartbeat and stop events say: which play, where it was, how it went."""
    return {
        "play_id": session["p"],
        "member_id": session["m"],
        "profile_id": session["f"],
        "title_id": session["t"],
        "position_s": beat.position_s,
        "qoe": dict(beat.qoe),
    }


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    state = app[STATE]
    api = PlayApi(settings, state, service_options(settings, PlaySettings))
    app[API] = api
    app.router.add_post("/api/play", start_play)
    app.router.add_get("/api/play/{play_id}/master.m3u8", master)
    app.router.add_get("/api/play/{play_id}/media/{pathway}/{file}", media)
    app.router.add_get("/api/play/{play_id}/manifest.mpd", dash)
    app.router.add_post("/api/play/{play_id}/heartbeat", heartbeat)
    app.router.add_post("/api/play/{play_id}/stop", stop)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if api.origin is not None:
            await api.origin.start()
        if settings.nats_url:
            api.events = EventProducer(
                settings.nats_url,
                producer_id=f"{settings.instance_id or 'play-api'}-{os.getpid()}",
                spool_dir=settings.data_dir / "spool" / quote(settings.instance_id or "play-api"),
            )
            await api.events.start()
        yield
        if api.events is not None:
            await api.events.aclose(drain_timeout_s=2)
        for dependency in (api.accounts, api.catalog, api.playback, api.steering, api.license):
            await dependency.client.aclose()
        if api.origin is not None:
            await api.origin.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app
