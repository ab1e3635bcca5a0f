"""The catalog process: gRPC (GetTitle, GetLicense, ListTitles) for the platform, browse
endpoints for members (`GET /api/catalog/titles[/{id}]` through the gateway), and publishing:
titles come from the origin's asset manifests — every `title.encoded` event, plus a sweep of the
origin at start (and every `sweep_interval_s` when there is no event stream) for anything
published while the catalog was away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.database import open_database
from reelcloud.platform.errors import BadRequestError, NotFoundError, ReelcloudError
from reelcloud.platform.events import EventConsumer
from reelcloud.platform.events.schema import SUBJECT_PREFIX
from reelcloud.platform.settings import Settings, service_options
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore
from reelcloud.rpc import catalog_pb2, catalog_pb2_grpc
from reelcloud.services.catalog.artwork import ArtworkCache, artwork_entry, artwork_url
from reelcloud.services.catalog.store import SCHEMA, CatalogStore

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"


class CatalogSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sweep_interval_s: float = Field(default=30.0, gt=0)


STORE = web.AppKey("catalog_store", CatalogStore)
ARTWORK = web.AppKey("catalog_artwork", ArtworkCache)


def license_message(row: dict[str, Any], today: date) -> Any:
    return catalog_pb2.License(
        title_id=row["title_id"],
        country=row["country"],
        starts=row["starts"].isoformat(),
        ends=row["ends"].isoformat(),
        active=row["starts"] <= today <= row["ends"],
    )


def title_message(row: dict[str, Any], *, with_manifest: bool) -> Any:
    today = date.today()
    manifest = row["manifest"] if with_manifest else ""
    return catalog_pb2.Title(
        id=row["id"],
        name=row["name"],
        year=row["year"] or 0,
        genres=row["genres"],
        maturity=row["maturity"],
        description=row["description"],
        duration_s=row["duration_s"],
        popularity=row["popularity"],
        manifest_json=manifest if isinstance(manifest, str) else orjson.dumps(manifest).decode(),
        licenses=[license_message(r, today) for r in row.get("licenses", [])],
        published_at=row["published_at"],
    )


def public_title(row: dict[str, Any]) -> dict[str, Any]:
    today = date.today()
    return {
        "id": row["id"],
        "name": row["name"],
        "year": row["year"],
        "genres": row["genres"],
        "maturity": row["maturity"],
        "description": row["description"],
        "duration_s": row["duration_s"],
        "popularity": row["popularity"],
        "available_in": [
            r["country"] for r in row.get("licenses", []) if r["starts"] <= today <= r["ends"]
        ],
        "artwork_url": artwork_url(row["id"]) if artwork_entry(row["manifest"]) else None,
    }


class CatalogServicer(catalog_pb2_grpc.CatalogServicer):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def GetTitle(self, request: Any, context: Any) -> Any:
        return title_message(await self.app[STORE].title(request.title_id), with_manifest=True)

    async def GetLicense(self, request: Any, context: Any) -> Any:
        store = self.app[STORE]
        await store.title(request.title_id)  # NOT_FOUND for an unknown title
        country = request.country.upper()
        for row in await store.licenses(request.title_id):
            if row["country"] == country:
                return license_message(row, date.today())
        return catalog_pb2.License(title_id=request.title_id, country=country, active=False)

    async def ListTitles(self, request: Any, context: Any) -> Any:
        limit = min(request.limit or 100, 1000)
        rows = await self.app[STORE].titles(
            country=request.country, genre=request.genre, query=request.query, limit=limit
        )
        return catalog_pb2.ListTitlesResponse(
            titles=[title_message(r, with_manifest=False) for r in rows]
        )


async def browse(request: web.Request) -> web.Response:
    query = request.query
    if len(query.get("q", "")) > 200 or len(query.get("country", "")) > 2:
        raise BadRequestError("q is at most 200 characters, country 2 letters")
    rows = await request.app[STORE].titles(
        country=query.get("country", ""), genre=query.get("genre", ""), query=query.get("q", "")
    )
    for row in rows:
        row["licenses"] = await request.app[STORE].licenses(row["id"])
    return web.json_response({"titles": [public_title(r) for r in rows]})


async def one_title(request: web.Request) -> web.Response:
    return web.json_response(public_title(await request.app[STORE].title(request.match_info["id"])))


async def artwork(request: web.Request) -> web.Response:
    title_id = request.match_info["id"]
    entry = artwork_entry((await request.app[STORE].title(title_id))["manifest"])
    if entry is None:
        raise NotFoundError(f"title {title_id!r} has no artwork")
    etag = f'"{entry["content_id"]}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    data = await request.app[ARTWORK].get(title_id, entry)
    return web.Response(body=data, content_type="image/jpeg", headers=headers)


class Publisher:
    """Brings titles from the origin into the catalog: by event, and by sweeping the origin."""

    def __init__(self, settings: Settings, store: CatalogStore, options: CatalogSettings) -> None:
        self.settings = settings
        self.store = store
        self.options = options
        self.origin = ObjectStore.from_settings(settings) if settings.s3_url else None

    async def publish_key(self, key: str) -> None:
        assert self.origin is not None
        manifest = orjson.loads(await self.origin.get(ASSETS_BUCKET, key))
        await self.store.publish(manifest)
        log.info("published %s in the catalog", manifest["title_id"])

    async def sweep(self) -> int:
        assert self.origin is not None
        known = await self.store.known_ids()
        added = 0
        try:
            listing = [i async for i in self.origin.objects(ASSETS_BUCKET, "titles/")]
        except NotFoundError:
            return 0  # nothing published yet
        for info in listing:
            parts = info.key.split("/")
            if len(parts) == 3 and parts[2] == MANIFEST_NAME and parts[1] not in known:
                try:
                    await self.publish_key(info.key)
                    added += 1
                except (ReelcloudError, orjson.JSONDecodeError, KeyError, ValueError) as exc:
                    log.warning("cannot publish %s: %s", info.key, exc)
        return added

    async def follow_events(self) -> None:
        assert self.settings.nats_url is not None
        consumer = EventConsumer(
            self.settings.nats_url, "catalog", subject=f"{SUBJECT_PREFIX}.title.encoded"
        )
        await consumer.start()
        try:
            while True:
                for envelope, message in await consumer.fetch(batch=20, timeout_s=2.0):
                    try:
                        await self.publish_key(str(envelope.payload["manifest_key"]))
                        await message.ack()
                    except (ReelcloudError, orjson.JSONDecodeError, KeyError, ValueError) as exc:
                        log.warning("title.encoded %s not published yet: %s", envelope.id, exc)
        finally:
            await consumer.aclose()

    async def run(self) -> None:
        if self.origin is None:
            log.warning("no object store configured: the catalog only serves what it has")
            return
        await self.origin.start()
        try:
            events = None
            if self.settings.nats_url:
                events = asyncio.create_task(self.follow_events())
            while True:
                try:
                    await self.sweep()
                except ReelcloudError as exc:
                    log.warning("origin sweep failed: %s", exc.message)
                if events is not None and not events.done():
                    await asyncio.sleep(self.options.sweep_interval_s * 10)
                else:
                    await asyncio.sleep(self.options.sweep_interval_s)
        finally:
            await self.origin.aclose()


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    state = app[STATE]
    options = service_options(settings, CatalogSettings)
    app.router.add_get("/api/catalog/titles", browse)
    app.router.add_get("/api/catalog/titles/{id}", one_title)
    app.router.add_get("/api/catalog/titles/{id}/artwork", artwork)
    state.rpc.add(
        catalog_pb2_grpc.add_CatalogServicer_to_server,
        CatalogServicer(app),
        catalog_pb2.DESCRIPTOR.services_by_name["Catalog"].full_name,
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        pool = await open_database(settings, "catalog", SCHEMA)
        store = CatalogStore(pool)
        app[STORE] = store
        origin = ObjectStore.from_settings(settings) if settings.s3_url else None
        if origin is not None:
            await origin.start()
        app[ARTWORK] = ArtworkCache(origin)
        publisher = asyncio.create_task(Publisher(settings, store, options).run())
        yield
        if origin is not None:
            await origin.aclose()
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await publisher
        await pool.close()

    app.cleanup_ctx.append(lifecycle)
    return app
