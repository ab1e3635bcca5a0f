"""The router's HTTP API (admin only; `/metrics` has each route's counters and lag):

GET  /pipeline/status    each route: delivered, published, duplicates, filtered,
                         dead-lettered, errors, lag, problem; and why the last edit of the
                         routes was refused
GET  /pipeline/lake      each lake table's current metadata file (for `reelcloud query`)
POST /pipeline/replay    {route, since}: the route's events since then, delivered again
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel

from reelcloud.pipeline.models import LakeDescription, LakeTable, PipelineStatus, ReplayRequest
from reelcloud.pipeline.routes import RoutesWatcher
from reelcloud.pipeline.service import Router
from reelcloud.pipeline.settings import PipelineSettings
from reelcloud.pipeline.store import Lake
from reelcloud.platform.admin import admin_only
from reelcloud.platform.app import STATE, add_readiness_check, create_service_app
from reelcloud.platform.errors import ConfigurationError
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.storage import ObjectStore
from reelcloud.platform.validation import parse_body

ROUTER = web.AppKey("pipeline_router", Router)


def _json(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json"), status=status)


@admin_only
async def status(request: web.Request) -> web.Response:
    router = request.app[ROUTER]
    return _json(
        PipelineStatus(
            routes=[worker.status() for worker in router.workers.values()],
            routes_file=str(router.routes.path),
            routes_error=router.routes.error,
        )
    )


@admin_only
async def lake(request: web.Request) -> web.Response:
    tables = await asyncio.to_thread(request.app[ROUTER].lake.describe)
    return _json(
        LakeDescription(
            tables=[LakeTable(name=name, metadata_location=at) for name, at in tables.items()]
        )
    )


@admin_only
async def replay(request: web.Request) -> web.Response:
    body = parse_body(ReplayRequest, await request.read(), "replay")
    return _json(await request.app[ROUTER].replay(body.route, body.since))


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings, fetch_registry=False)
    options = service_options(settings, PipelineSettings)
    if not settings.nats_url or settings.database_url is None or not settings.s3_url:
        raise ConfigurationError("the pipeline needs REELCLOUD_NATS_URL, _DATABASE_URL, _S3_URL")
    app.router.add_get("/pipeline/status", status)
    app.router.add_get("/pipeline/lake", lake)
    app.router.add_post("/pipeline/replay", replay)

    async def router(app: web.Application) -> AsyncIterator[None]:
        async with ObjectStore.from_settings(settings) as objects:
            await objects.ensure_bucket(options.lake_bucket)
        path = Path(options.routes_file)
        routes = RoutesWatcher(path if path.is_absolute() else settings.data_dir / path)
        store = await asyncio.to_thread(
            Lake,
            settings.database_url.get_secret_value(),  # type: ignore[union-attr]
            settings.s3_url,  # type: ignore[arg-type]
            settings.s3_access_key,
            settings.s3_secret_key.get_secret_value(),
            settings.s3_region,
            options.lake_bucket,
            options.lake_namespace,
            options.dedup_partitions,
        )
        running = Router(
            settings.nats_url,  # type: ignore[arg-type]
            store, routes, options, app[STATE].metrics.registry, settings.kafka_url,
        )  # fmt: skip
        await running.start()
        app[ROUTER] = running
        add_readiness_check(app, "routes", running.problems)
        yield
        await running.aclose()

    app.cleanup_ctx.append(router)
    return app
