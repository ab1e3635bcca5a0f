"""The cache-control process: OCA reports in, fill manifests and steering state out.

POST /v1/reports              an OCA's report (signed by the OCA)
GET  /v1/fill-manifest        the calling OCA's fill manifest (signed by the OCA)
GET  /v1/steering-state       every OCA's health, prefixes and (when changed) holdings
POST /v1/fill/now             run an out-of-window fill on every OCA (`reelcloud fill --now`)
GET  /v1/ocas                 a readable summary per OCA (`reelcloud status` and people)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from reelcloud.platform.app import create_service_app
from reelcloud.platform.errors import ConfigurationError, ReelcloudError
from reelcloud.platform.oca_auth import verify_request
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.storage import ObjectStore
from reelcloud.platform.validation import parse_body
from reelcloud.services.cachecontrol.fleet import Fleet, Report
from reelcloud.services.cachecontrol.planning import placement, sources_for
from reelcloud.services.cachecontrol.titles import Title, TitleCatalog

log = logging.getLogger(__name__)


class CacheControlSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog_refresh_s: float = Field(default=5.0, gt=0)
    # How long an OCA waits for its site's fill master, then for its upstream, before going on.
    escalation_s: float = Field(default=60.0, ge=0)


class CacheControl:
    def __init__(self, settings: Settings, options: CacheControlSettings) -> None:
        openconnect = settings.topology.openconnect
        if openconnect is None:
            raise ConfigurationError("cache-control needs an `openconnect:` topology section")
        self.config = openconnect
        self.options = options
        self.fleet = Fleet(openconnect)
        self.catalog = TitleCatalog()
        self.fill_now = 0  # bumped by POST /v1/fill/now
        self._plan: dict[str, list[Title]] = {}
        self._first_wanted: dict[tuple[str, str], float] = {}

    def replan(self) -> None:
        self._plan = placement(self.config, self.catalog.ranked())

    def manifest(self, oca_id: str) -> dict[str, Any]:
        oca = self.fleet.state(oca_id).config
        now = time.time()
        titles = []
        for rank, title in enumerate(self._plan.get(oca_id, []), start=1):
            first = self._first_wanted.setdefault((oca_id, title.title_id), now)
            sources = sources_for(
                self.fleet, self._plan, oca, title, now - first, self.options.escalation_s
            )
            titles.append(
                {
                    "title_id": title.title_id,
                    "rank": rank,
                    "new": title.is_new(now),
                    "size": title.size,
                    "files": [
                        {"name": f.name, "content_id": f.content_id, "size": f.size}
                        for f in title.files
                    ],
                    "sources": sources.to_dict(),
                    "origin": sources.origin,
                }
            )
        return {"oca_id": oca_id, "generated_at": now, "fill_now": self.fill_now, "titles": titles}

    def summary(self) -> list[dict[str, Any]]:
        now = time.time()
        out = []
        for oca_id, state in self.fleet.ocas.items():
            complete = [
                t.title_id for t in self.catalog.titles.values() if state.holds(t.content_ids)
            ]
            out.append(
                {
                    "id": oca_id,
                    "site": state.site.name,
                    "kind": state.config.kind,
                    "address": f"{state.config.address}:{state.port}",
                    "healthy": state.is_healthy(now, self.fleet.stale_after_s),
                    "report_age_s": None
                    if state.last_report_at is None
                    else round(now - state.last_report_at, 1),
                    "titles_held": len(complete),
                    "titles_planned": len(self._plan.get(oca_id, [])),
                    "health": state.health.model_dump() if state.health else None,
                    "fill": state.fill,
                }
            )
        return out

    async def refresh_catalog_forever(self, settings: Settings) -> None:
        if not settings.s3_url:
            log.warning("no object store configured: no titles to place")
            return
        async with ObjectStore.from_settings(settings) as store:
            while True:
                try:
                    await self.catalog.refresh(store)
                    self.replan()
                except ReelcloudError as exc:
                    log.warning("catalog refresh failed: %s", exc.message)
                await asyncio.sleep(self.options.catalog_refresh_s)


CONTROL = web.AppKey("cache_control", CacheControl)


async def _signed_oca(request: web.Request, body: bytes) -> str:
    control = request.app[CONTROL]
    return verify_request(
        control.config.report_secret, dict(request.headers), request.method, request.path, body
    )


async def receive_report(request: web.Request) -> web.Response:
    body = await request.read()
    oca_id = await _signed_oca(request, body)
    report = parse_body(Report, body, "report")
    need_full = request.app[CONTROL].fleet.apply(oca_id, report)
    return web.json_response({"need_full": need_full})


async def fill_manifest(request: web.Request) -> web.Response:
    oca_id = await _signed_oca(request, b"")
    manifest = request.app[CONTROL].manifest(oca_id)
    return web.Response(body=orjson.dumps(manifest), content_type="application/json")


async def steering_state(request: web.Request) -> web.Response:
    fleet = request.app[CONTROL].fleet
    known = request.query.get("content_version")
    with_content = known is None or known != str(fleet.content_version)
    return web.Response(
        body=orjson.dumps(fleet.snapshot(with_content)), content_type="application/json"
    )


async def fill_now(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    control.fill_now += 1
    log.info("out-of-window fill requested (generation %d)", control.fill_now)
    return web.json_response({"fill_now": control.fill_now})


async def ocas(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    return web.Response(
        body=orjson.dumps(
            {
                "ocas": control.summary(),
                "titles": [t.title_id for t in control.catalog.ranked()],
                "fill_now": control.fill_now,
            }
        ),
        content_type="application/json",
    )


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    control = CacheControl(settings, service_options(settings, CacheControlSettings))
    app[CONTROL] = control
    app.router.add_post("/v1/reports", receive_report)
    app.router.add_get("/v1/fill-manifest", fill_manifest)
    app.router.add_get("/v1/steering-state", steering_state)
    app.router.add_post("/v1/fill/now", fill_now)
    app.router.add_get("/v1/ocas", ocas)

    async def background(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(control.refresh_catalog_forever(settings))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(background)
    return app
