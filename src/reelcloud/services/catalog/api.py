"""The catalog over gRPC (GetTitle, GetLicense, ListTitles, for the platform) and HTTP (browse
for members through the gateway); handlers only translate to `CatalogService` calls.

GET /api/catalog/titles[?q=&country=&genre=]   titles, each with `availability`
GET /api/catalog/titles/{id}                   one title, with `availability`
GET /api/catalog/titles/{id}/artwork           its artwork (ETag: the content id)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from reelcloud.platform.app import STATE, add_readiness_check, create_service_app
from reelcloud.platform.database import open_database
from reelcloud.platform.discovery import ServiceHttpClient
from reelcloud.platform.events import EventMetrics, EventSubscription
from reelcloud.platform.openapi import Operation, Parameter, Raw, serve_fragment
from reelcloud.platform.origin import PublishedTitles
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.storage import ObjectStore
from reelcloud.platform.validation import parse_query
from reelcloud.rpc import catalog_pb2, catalog_pb2_grpc
from reelcloud.services.catalog.artwork import ArtworkCache
from reelcloud.services.catalog.models import (
    BrowseQuery,
    LicenseWindow,
    PublicTitle,
    TitleList,
    TitleRecord,
)
from reelcloud.services.catalog.publishing import SUBJECT, Publisher
from reelcloud.services.catalog.service import (
    AvailabilityBoard,
    CatalogService,
    follow_availability,
)
from reelcloud.services.catalog.settings import CatalogSettings
from reelcloud.services.catalog.store import (
    SCHEMA,
    AvailabilitySource,
    CatalogStore,
)

log = logging.getLogger(__name__)

SERVICE = web.AppKey("catalog_service", CatalogService)

_TITLE_ID = Parameter("title_id", "path", {"type": "string", "minLength": 1})
_QUERY = tuple(
    Parameter(name, "query", schema, required=False, description=description)
    for name, schema, description in (
        ("q", {"type": "string", "maxLength": 200}, "a case-insensitive match on the name"),
        ("country", {"type": "string", "maxLength": 2}, "only titles licensed there today"),
        ("genre", {"type": "string", "maxLength": 100}, "only titles of this genre"),
    )
)
OPERATIONS = [
    Operation("GET", "/api/catalog/titles", "Titles, most popular first, with availability",
              {200: TitleList}, parameters=_QUERY),
    Operation("GET", "/api/catalog/titles/{title_id}", "One title, with its availability",
              {200: PublicTitle}, parameters=(_TITLE_ID,), errors=(404,)),
    Operation("GET", "/api/catalog/titles/{title_id}/artwork", "The title's artwork (JPEG)",
              {200: Raw("image/jpeg", binary=True)}, parameters=(_TITLE_ID,), errors=(404,)),
]  # fmt: skip


def _json(model: BaseModel) -> web.Response:
    return web.Response(body=model.model_dump_json(), content_type="application/json")


# ---- HTTP ----------------------------------------------------------------------------------------


async def browse(request: web.Request) -> web.Response:
    query = parse_query(BrowseQuery, request.query, "query")
    return _json(await request.app[SERVICE].browse(query))


async def one_title(request: web.Request) -> web.Response:
    return _json(await request.app[SERVICE].public_title(request.match_info["title_id"]))


async def artwork(request: web.Request) -> web.Response:
    title_id = request.match_info["title_id"]
    service = request.app[SERVICE]
    file = await service.artwork_file(title_id)
    etag = f'"{file.content_id}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    data = await service.artwork_bytes(title_id, file)
    return web.Response(body=data, content_type="image/jpeg", headers=headers)


# ---- gRPC ----------------------------------------------------------------------------------------


def license_message(window: LicenseWindow, active: bool) -> Any:
    return catalog_pb2.License(
        title_id=window.title_id,
        country=window.country,
        starts=window.starts.isoformat(),
        ends=window.ends.isoformat(),
        active=active,
    )


def title_message(service: CatalogService, record: TitleRecord) -> Any:
    today = service.today()
    return catalog_pb2.Title(
        id=record.id,
        name=record.name,
        year=record.year or 0,
        genres=list(record.genres),
        maturity=record.maturity,
        description=record.description,
        duration_s=record.duration_s,
        popularity=record.popularity,
        manifest_json=record.manifest_json or "",
        licenses=[license_message(w, w.active_on(today)) for w in record.licenses],
        published_at=record.published_at,
        availability=service.availability(record.id).availability,
    )


class CatalogServicer(catalog_pb2_grpc.CatalogServicer):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def GetTitle(self, request: Any, context: Any) -> Any:
        service = self.app[SERVICE]
        return title_message(service, await service.title(request.title_id))

    async def GetLicense(self, request: Any, context: Any) -> Any:
        service = self.app[SERVICE]
        window = await service.license(request.title_id, request.country)
        if window is None:
            return catalog_pb2.License(
                title_id=request.title_id, country=request.country.upper(), active=False
            )
        return license_message(window, window.active_on(service.today()))

    async def ListTitles(self, request: Any, context: Any) -> Any:
        service = self.app[SERVICE]
        records = await service.list_titles(
            country=request.country, genre=request.genre, query=request.query, limit=request.limit
        )
        return catalog_pb2.ListTitlesResponse(titles=[title_message(service, r) for r in records])


# ---- wiring --------------------------------------------------------------------------------------


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    state = app[STATE]
    options = service_options(settings, CatalogSettings)
    app.router.add_get("/api/catalog/titles", browse)
    app.router.add_get("/api/catalog/titles/{title_id}", one_title)
    app.router.add_get("/api/catalog/titles/{title_id}/artwork", artwork)
    serve_fragment(app, "catalog", OPERATIONS)
    state.rpc.add(
        catalog_pb2_grpc.add_CatalogServicer_to_server,
        CatalogServicer(app),
        catalog_pb2.DESCRIPTOR.services_by_name["Catalog"].full_name,
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        pool = await open_database(settings, "catalog", SCHEMA)
        store = CatalogStore(pool)
        origin = ObjectStore.from_settings(settings) if settings.s3_url else None
        manifests = None if origin is None else PublishedTitles(await origin.start())
        board = AvailabilityBoard()
        app[SERVICE] = CatalogService(store, board, ArtworkCache(manifests))
        availability = AvailabilitySource(ServiceHttpClient(state.discovery, "cache-control"))
        tasks = [
            asyncio.create_task(
                follow_availability(
                    board, availability, options.availability_poll_s, app[SERVICE].clock
                )
            )
        ]
        subscription: EventSubscription | None = None
        if manifests is not None:
            publisher = Publisher(manifests, store, options)
            if settings.nats_url:
                subscription = EventSubscription(
                    settings.nats_url,
                    "catalog",
                    SUBJECT,
                    publisher.handle_event,
                    metrics=EventMetrics(state.metrics.registry),
                    max_deliveries=options.event_max_deliveries,
                    redeliver_after_s=options.event_redeliver_after_s,
                )
                publisher.events_up = subscription.supervised.is_up
                add_readiness_check(app, subscription.name, subscription.problem)
                subscription.start()
            tasks.append(asyncio.create_task(publisher.run()))
        else:
            log.warning("no object store configured: the catalog only serves what it has")
        yield
        if subscription is not None:
            await subscription.aclose()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await availability.aclose()
        if origin is not None:
            await origin.aclose()
        await pool.close()

    app.cleanup_ctx.append(lifecycle)
    return app
