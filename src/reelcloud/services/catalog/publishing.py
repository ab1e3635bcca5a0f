"""Publishing: titles come into the catalog from the origin's asset manifests — by every
`title.encoded` event, and by a sweep of the origin at start (and every `sweep_interval_s`,
ten times less often while the event consumer is up) for anything published while the
catalog was away or an event was given up on.

The events arrive through `platform.events.EventSubscription`, which supervises the consumer:
whatever stops it is logged and it is back within 5 s, and `/readyz` says so meanwhile (it
once died silently, on a fetch timeout nats-py raised as a bare TimeoutError, and titles then
waited for the sweep). `handle_event` returns once an event is published or can never be (no
such manifest, not a manifest, a key that is not a title's: logged and acknowledged); it raises
for a passing failure, so the event is delivered again, and a few times at most.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from reelcloud.platform.assets import AssetManifest, manifest_key
from reelcloud.platform.errors import NotFoundError, ReelcloudError
from reelcloud.platform.events.schema import Envelope
from reelcloud.services.catalog.settings import CatalogSettings

log = logging.getLogger(__name__)

SUBJECT = "events.title.encoded"


class Manifests(Protocol):
    """Published manifests on the origin (`platform.origin.PublishedTitles`)."""

    async def published(self) -> list[str]: ...

    async def stored_manifest(self, title_id: str) -> tuple[AssetManifest, str]: ...


class Titles(Protocol):
    """Where published titles go (`store.CatalogStore`)."""

    async def known_ids(self) -> set[str]: ...

    async def publish(self, manifest: AssetManifest, raw: str) -> None: ...


class Publisher:
    def __init__(
        self,
        origin: Manifests,
        titles: Titles,
        options: CatalogSettings,
        events_up: Callable[[], bool] = lambda: False,
    ) -> None:
        self.origin = origin
        self.titles = titles
        self.options = options
        self.events_up = events_up  # is the title.encoded consumer consuming?

    async def publish(self, title_id: str) -> None:
        manifest, raw = await self.origin.stored_manifest(title_id)
        if manifest.title_id != title_id:
            raise ValueError(f"the manifest of {title_id!r} names {manifest.title_id!r}")
        await self.titles.publish(manifest, raw)
        log.info("published %s in the catalog", title_id)

    async def sweep(self) -> int:
        known = await self.titles.known_ids()
        added = 0
        for title_id in await self.origin.published():
            if title_id in known:
                continue
            try:
                await self.publish(title_id)
                added += 1
            except (ReelcloudError, ValueError, KeyError) as exc:
                log.warning("cannot publish %s: %s", title_id, exc)
        return added

    async def handle_event(self, envelope: Envelope) -> None:
        """One `title.encoded` event. Returns once the title is published or never can be;
        raises (UnavailableError: the origin away; anything else: the database, a bug) for the
        event to be delivered again."""
        title_id = envelope.payload.get("title_id")
        key = envelope.payload.get("manifest_key")
        if not isinstance(title_id, str) or key != manifest_key(title_id):
            log.warning("title.encoded %s names no title's manifest: dropped", envelope.id)
            return
        try:
            await self.publish(title_id)
        except NotFoundError as exc:  # withdrawn, or never there; a sweep finds it if it comes
            log.warning("title.encoded %s: %s: dropped", envelope.id, exc.message)
        except (ValueError, KeyError) as exc:  # not a manifest (pydantic's errors included)
            log.warning("title.encoded %s: unreadable manifest: %s: dropped", envelope.id, exc)

    async def run(self) -> None:
        """Sweep the origin for as long as the catalog runs."""
        while True:
            try:
                await self.sweep()
            except ReelcloudError as exc:
                log.warning("origin sweep failed: %s", exc.message)
            except Exception:  # a database error, a bug: the next sweep may pass; never die
                log.exception("origin sweep failed")
            interval = self.options.sweep_interval_s
            await asyncio.sleep(interval * 10 if self.events_up() else interval)
