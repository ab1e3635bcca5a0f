"""The steering process: gRPC `Steer` for the Play API, and the content-steering manifest
(HLS `PATHWAY-PRIORITY`, DASH `SERVICE-LOCATION-PRIORITY`) for players, over HTTP through the
gateway at /steering/v1/manifest. Its view of the OCAs is cache control's, polled every
`state_poll_s`; freshness is judged again at every decision."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.discovery import DiscoveryClient
from reelcloud.platform.errors import BadRequestError, ConfigurationError, ReelcloudError
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.signed_blobs import SignedBlobs
from reelcloud.platform.signed_urls import SCOPE, UrlSigner, client_network
from reelcloud.rpc import steering_pb2, steering_pb2_grpc
from reelcloud.services.steering.table import DEFAULT_RESULTS, SteeringTable

log = logging.getLogger(__name__)

MANIFEST_PATH = "/steering/v1/manifest"
MAX_CONTENT_IDS = 10_000
FORMATS = {"hls": "PATHWAY-PRIORITY", "dash": "SERVICE-LOCATION-PRIORITY"}


class SteeringSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state_poll_s: float = Field(default=0.5, gt=0)
    manifest_ttl_s: int = Field(default=10, ge=1)  # how often players re-fetch the manifest


class Steering:
    def __init__(self, settings: Settings, options: SteeringSettings) -> None:
        config = settings.topology.openconnect
        if config is None:
            raise ConfigurationError("steering needs an `openconnect:` topology section")
        self.config = config
        self.options = options
        self.table = SteeringTable(
            config.origin_oca, config.report_interval_s * config.stale_after_reports
        )
        self.signer = UrlSigner(config.signing_keys)
        self.sessions = SignedBlobs(
            next(reversed(config.signing_keys.values())), "steering session"
        )
        self.loaded = asyncio.Event()

    def steer(self, request: Any) -> Any:
        title_id = request.title_id
        if not SCOPE.match(title_id):
            raise BadRequestError("title_id is not a title id")
        if len(request.content_ids) > MAX_CONTENT_IDS:
            raise BadRequestError(f"at most {MAX_CONTENT_IDS} content ids")
        try:
            network = client_network(request.client_address)
            address = request.network_address or request.client_address
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise BadRequestError(f"not an IP address: {exc}") from exc
        limit = min(request.max_results or DEFAULT_RESULTS, DEFAULT_RESULTS)
        choices = self.table.rank(address, frozenset(request.content_ids), limit)
        expires = int(time.time()) + self.config.url_ttl_s
        token = self.signer.sign(title_id, network, expires)
        candidates = [
            steering_pb2.Candidate(
                oca_id=choice.oca.id,
                site=choice.oca.site,
                site_kind=choice.oca.site_kind,
                base_url=f"http://{choice.oca.address}:{choice.oca.port}/v/{token}/{title_id}/",
                rank=rank,
                reason=choice.reason,
            )
            for rank, choice in enumerate(choices, start=1)
        ]
        session = self.sessions.encode(
            {"t": title_id, "p": [c.oca_id for c in candidates], "x": expires}
        )
        return steering_pb2.SteerResponse(
            candidates=candidates,
            expires_at=expires,
            steering_path=f"{MANIFEST_PATH}?s={session}",
        )

    async def poll_forever(self, discovery: DiscoveryClient) -> None:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    instance = discovery.choose("cache-control")
                    url = f"http://{instance.ip_addr}:{instance.port}/v1/steering-state"
                    params = {"content_version": str(self.table.content_version)}
                    async with session.get(url, params=params) as reply:
                        if reply.status != 200:
                            raise ReelcloudError(f"cache control answered {reply.status}")
                        self.table.load(await reply.json())
                        self.loaded.set()
                except (ReelcloudError, aiohttp.ClientError, TimeoutError, KeyError) as exc:
                    # Keep steering with the last state: freshness still ages it out.
                    log.warning("steering state refresh failed: %s", exc)
                await asyncio.sleep(self.options.state_poll_s)


STEERING = web.AppKey("steering", Steering)


async def steering_manifest(request: web.Request) -> web.Response:
    steering = request.app[STEERING]
    fmt = request.query.get("f", "hls")
    if fmt not in FORMATS:
        raise BadRequestError("f must be hls or dash")
    session = steering.sessions.decode(request.query.get("s", ""))
    if not isinstance(session.get("p"), list):
        raise BadRequestError("the steering session names no pathways")
    pathways = [str(p) for p in session["p"]]
    reload_uri = f"{MANIFEST_PATH}?s={request.query['s']}&f={fmt}"
    return web.json_response(
        {
            "VERSION": 1,
            "TTL": steering.options.manifest_ttl_s,
            "RELOAD-URI": reload_uri,
            FORMATS[fmt]: steering.table.order_pathways(pathways),
        },
        headers={"Cache-Control": "no-store"},
    )


async def steering_table(request: web.Request) -> web.Response:
    """What steering believes now (for people and `reelcloud status`)."""
    table = request.app[STEERING].table
    now = time.time()
    return web.json_response(
        {
            "content_version": table.content_version,
            "ocas": [
                {
                    "id": view.id,
                    "site": view.site,
                    "usable": view.is_usable(now, table.stale_after_s),
                    "files": len(view.content),
                    "load": view.load,
                }
                for view in table.ocas.values()
            ],
        }
    )


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    state = app[STATE]
    steering = Steering(settings, service_options(settings, SteeringSettings))
    app[STEERING] = steering
    app.router.add_get(MANIFEST_PATH, steering_manifest)
    app.router.add_get("/v1/table", steering_table)

    class Servicer(steering_pb2_grpc.SteeringServicer):
        async def Steer(self, request: Any, context: Any) -> Any:
            return steering.steer(request)

    state.rpc.add(
        steering_pb2_grpc.add_SteeringServicer_to_server,
        Servicer(),
        steering_pb2.DESCRIPTOR.services_by_name["Steering"].full_name,
    )

    async def poller(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(steering.poll_forever(state.discovery))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def state_loaded() -> bool:
        return steering.loaded.is_set()

    state.readiness_checks.append(state_loaded)
    app.cleanup_ctx.append(poller)
    return app
