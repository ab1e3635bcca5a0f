"""The catalog's logic, framework-free: browse and title pages for members, titles and licences
for the Play API, each with its availability to play — which the catalog learns from cache
control (`AvailabilityBoard`, refreshed by `follow_availability`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Protocol

from reelcloud.platform.assets import AssetFile
from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import NotFoundError, ReelcloudError
from reelcloud.services.catalog.artwork import ArtworkCache, artwork_url
from reelcloud.services.catalog.models import (
    AVAILABLE,
    COMING_SOON,
    AvailabilitySnapshot,
    BrowseQuery,
    LicenseWindow,
    PublicTitle,
    TitleAvailability,
    TitleList,
    TitleRecord,
)

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class TitleStore(Protocol):
    """The catalog's titles (`store.CatalogStore`)."""

    async def title(self, title_id: str, *, with_manifest: bool = False) -> TitleRecord: ...

    async def titles(
        self, *, country: str = "", genre: str = "", query: str = "", limit: int = 100
    ) -> list[TitleRecord]: ...


class AvailabilityFeed(Protocol):
    """Cache control's availability (`store.AvailabilitySource`)."""

    async def fetch(self) -> AvailabilitySnapshot: ...


class AvailabilityBoard:
    """What the catalog last heard from cache control: a title it has not heard of is coming
    soon (so at first start, before cache control answered, everything is)."""

    def __init__(self) -> None:
        self._known: dict[str, TitleAvailability] = {}
        self.updated_at: float | None = None

    def update(self, snapshot: AvailabilitySnapshot, now: float) -> None:
        self._known = {
            t.title_id: TitleAvailability(AVAILABLE if t.playable else COMING_SOON, t.since)
            for t in snapshot.titles
        }
        self.updated_at = now

    def of(self, title_id: str) -> TitleAvailability:
        return self._known.get(title_id, TitleAvailability(COMING_SOON, None))


async def follow_availability(
    board: AvailabilityBoard, feed: AvailabilityFeed, poll_s: float, clock: Clock
) -> None:
    """Keep the board current; when cache control cannot be read, keep the last known."""
    failing = False
    while True:
        try:
            board.update(await feed.fetch(), clock.now())
            if failing:
                log.info("cache control's availability is readable again")
            failing = False
        except ReelcloudError as exc:
            if not failing:  # once per outage, not every poll
                log.warning("availability not refreshed (keeping the last known): %s", exc)
            failing = True
        await asyncio.sleep(poll_s)


class CatalogService:
    def __init__(
        self,
        store: TitleStore,
        board: AvailabilityBoard,
        artwork: ArtworkCache,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.board = board
        self.artwork_cache = artwork
        self.clock = clock or SystemClock()

    def today(self) -> date:
        return date.fromtimestamp(self.clock.now())

    def availability(self, title_id: str) -> TitleAvailability:
        return self.board.of(title_id)

    def public(self, record: TitleRecord) -> PublicTitle:
        today = self.today()
        return PublicTitle(
            id=record.id,
            name=record.name,
            year=record.year,
            genres=list(record.genres),
            maturity=record.maturity,
            description=record.description,
            duration_s=record.duration_s,
            popularity=record.popularity,
            available_in=[w.country for w in record.licenses if w.active_on(today)],
            artwork_url=artwork_url(record.id) if record.artwork else None,
            availability=self.board.of(record.id).availability,
        )

    async def browse(self, query: BrowseQuery) -> TitleList:
        records = await self.store.titles(
            country=query.country, genre=query.genre, query=query.q, limit=DEFAULT_LIMIT
        )
        return TitleList(titles=[self.public(r) for r in records])

    async def public_title(self, title_id: str) -> PublicTitle:
        return self.public(await self.store.title(title_id))

    async def title(self, title_id: str) -> TitleRecord:
        """With its manifest (the Play API plays from it)."""
        return await self.store.title(title_id, with_manifest=True)

    async def list_titles(
        self, *, country: str, genre: str, query: str, limit: int
    ) -> list[TitleRecord]:
        limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
        return await self.store.titles(country=country, genre=genre, query=query, limit=limit)

    async def license(self, title_id: str, country: str) -> LicenseWindow | None:
        """The title's window in `country`, None when it has none (NotFoundError for an unknown
        title)."""
        record = await self.store.title(title_id)
        return next((w for w in record.licenses if w.country == country.upper()), None)

    async def artwork_file(self, title_id: str) -> AssetFile:
        """The title's artwork (its content id is the ETag)."""
        record = await self.store.title(title_id)
        if record.artwork is None:
            raise NotFoundError(f"title {title_id!r} has no artwork")
        return record.artwork

    async def artwork_bytes(self, title_id: str, artwork: AssetFile) -> bytes:
        return await self.artwork_cache.get(title_id, artwork)
