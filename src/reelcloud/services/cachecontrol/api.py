"""Cache control over HTTP; every handler only translates to `CacheControl` calls.

POST /v1/reports              an OCA's report (signed by the OCA)
GET  /v1/fill-manifest        the calling OCA's fill manifest (signed by the OCA)
GET  /v1/steering-state       every OCA's health, prefixes and (when changed) holdings
GET  /v1/availability         per title: playable, since when, the OCAs holding it (the catalog)
POST /v1/fill/now             run an out-of-window fill on every OCA (`reelcloud fill --now`;
                              the admin credential)
GET  /v1/ocas                 a readable summary per OCA (`reelcloud ocas` and people), the
                              titles most wanted first, and the plays placement follows
                              (`demand`: from which service, when, how many; null before any)

In the background it reads the catalog from the origin and the plays counted per rendition
from the stream jobs (`GET /jobs/popularity` of the `jobs` service, found in the registry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel

from reelcloud.platform.admin import admin_only
from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.discovery import ServiceHttpClient
from reelcloud.platform.errors import ConfigurationError, ReelcloudError
from reelcloud.platform.oca_auth import verify_request
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.steering_state import STEERING_STATE_PATH
from reelcloud.platform.storage import ObjectStore
from reelcloud.platform.validation import parse_body
from reelcloud.services.cachecontrol.demand import PopularitySource
from reelcloud.services.cachecontrol.models import Report
from reelcloud.services.cachecontrol.service import CacheControl
from reelcloud.services.cachecontrol.settings import CacheControlSettings
from reelcloud.services.cachecontrol.store import JOBS_SERVICE, JobsPopularity, PublishedTitles

log = logging.getLogger(__name__)

CONTROL = web.AppKey("cache_control", CacheControl)


def _json(model: BaseModel) -> web.Response:
    return web.Response(body=model.model_dump_json(), content_type="application/json")


def _signed_oca(request: web.Request, body: bytes) -> str:
    secret = request.app[CONTROL].config.report_key()
    return verify_request(secret, dict(request.headers), request.method, request.path, body)


async def receive_report(request: web.Request) -> web.Response:
    body = await request.read()
    oca_id = _signed_oca(request, body)
    report = parse_body(Report, body, "report")
    return _json(request.app[CONTROL].receive(oca_id, report))


async def fill_manifest(request: web.Request) -> web.Response:
    oca_id = _signed_oca(request, b"")
    return _json(request.app[CONTROL].fill_manifest(oca_id))


async def steering_state(request: web.Request) -> web.Response:
    return _json(request.app[CONTROL].steering_state(request.query.get("content_version")))


async def availability(request: web.Request) -> web.Response:
    return _json(request.app[CONTROL].availability())


@admin_only
async def fill_now(request: web.Request) -> web.Response:
    return _json(request.app[CONTROL].fill_now())


async def ocas(request: web.Request) -> web.Response:
    return _json(request.app[CONTROL].summary())


async def refresh_catalog_forever(control: CacheControl, settings: Settings) -> None:
    if not settings.s3_url:
        log.warning("no object store configured: no titles to place")
        return
    async with ObjectStore.from_settings(settings) as origin:
        source = PublishedTitles(origin)
        while True:
            try:
                await control.refresh_catalog(source)
            except ReelcloudError as exc:
                log.warning("catalog refresh failed: %s", exc.message)
            await asyncio.sleep(control.options.catalog_refresh_s)


async def read_demand_forever(control: CacheControl, source: PopularitySource) -> None:
    options = control.options
    while True:
        read = await control.read_demand(source)
        # A failed read is tried again sooner: until counts come, the plan is whole titles.
        await asyncio.sleep(
            options.demand_poll_s if read else min(options.demand_retry_s, options.demand_poll_s)
        )


def create_app(settings: Settings) -> web.Application:
    openconnect = settings.topology.openconnect
    if openconnect is None:
        raise ConfigurationError("cache-control needs an `openconnect:` topology section")
    openconnect.report_key()  # checks OCAs' reports: refuse to start without the secret
    app = create_service_app(settings)
    control = CacheControl(openconnect, service_options(settings, CacheControlSettings))
    app[CONTROL] = control
    app.router.add_post("/v1/reports", receive_report)
    app.router.add_get("/v1/fill-manifest", fill_manifest)
    app.router.add_get(STEERING_STATE_PATH, steering_state)
    app.router.add_get("/v1/availability", availability)
    app.router.add_post("/v1/fill/now", fill_now)
    app.router.add_get("/v1/ocas", ocas)

    async def background(app: web.Application) -> AsyncIterator[None]:
        jobs = JobsPopularity(ServiceHttpClient(app[STATE].discovery, JOBS_SERVICE))
        tasks = [
            asyncio.create_task(refresh_catalog_forever(control, settings)),
            asyncio.create_task(read_demand_forever(control, jobs)),
        ]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await jobs.aclose()

    app.cleanup_ctx.append(background)
    return app
