"""Publishing: titles come into the catalog from the origin's asset manifests — by every
`title.encoded` event, and by a sweep of the origin at start (and every `sweep_interval_s`,
ten times less often while events flow) for anything published while the catalog was away.

The event consumer is supervised: whatever stops it (a dropped connection, a NATS error) is
logged and the consumer reconnects, so titles never wait for the next sweep because the
consumer quietly died (it once did, on a fetch timeout nats-py raised as a bare TimeoutError).
An event that can never be published (no such manifest, not a manifest, a key that is not a
title's) is acknowledged and logged; one that failed for a passing reason is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from reelcloud.platform.assets import AssetManifest, manifest_key
from reelcloud.platform.errors import NotFoundError, ReelcloudError, UnavailableError
from reelcloud.platform.events.schema import Envelope
from reelcloud.services.catalog.settings import CatalogSettings

log = logging.getLogger(__name__)

FETCH_BATCH = 20
FETCH_TIMEOUT_S = 2.0
RETRY_DELAY_S = 5.0  # a passing failure: redelivered this much later


class Manifests(Protocol):
    """Published manifests on the origin (`platform.origin.PublishedTitles`)."""

    async def published(self) -> list[str]: ...

    async def stored_manifest(self, title_id: str) -> tuple[AssetManifest, str]: ...


class Titles(Protocol):
    """Where published titles go (`store.CatalogStore`)."""

    async def known_ids(self) -> set[str]: ...

    async def publish(self, manifest: AssetManifest, raw: str) -> None: ...


class Message(Protocol):
    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...


class Consumer(Protocol):
    """A durable `title.encoded` consumer (`platform.events.EventConsumer`)."""

    async def start(self) -> None: ...

    async def fetch(self, batch: int, timeout_s: float) -> list[tuple[Envelope, Any]]: ...

    async def aclose(self) -> None: ...


class Publisher:
    def __init__(
        self,
        origin: Manifests,
        titles: Titles,
        options: CatalogSettings,
        consumer: Callable[[], Consumer] | None = None,
    ) -> None:
        self.origin = origin
        self.titles = titles
        self.options = options
        self.consumer = consumer  # None: no event stream, sweeps only
        self.events_flowing = False

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

    async def handle(self, envelope: Envelope, message: Message) -> None:
        """One `title.encoded` event: acknowledged once published or once it never can be."""
        title_id = envelope.payload.get("title_id")
        key = envelope.payload.get("manifest_key")
        if not isinstance(title_id, str) or key != manifest_key(title_id):
            log.warning("title.encoded %s names no title's manifest: dropped", envelope.id)
            await message.ack()
            return
        try:
            await self.publish(title_id)
        except NotFoundError as exc:  # withdrawn, or never there; a sweep finds it if it comes
            log.warning("title.encoded %s: %s: dropped", envelope.id, exc.message)
        except (ValueError, KeyError) as exc:  # not a manifest (pydantic's errors included)
            log.warning("title.encoded %s: unreadable manifest: %s: dropped", envelope.id, exc)
        except UnavailableError as exc:
            log.warning("title.encoded %s not published yet: %s", envelope.id, exc.message)
            await message.nak(delay=RETRY_DELAY_S)
            return
        except Exception:  # a bug or a database error: retried, and the consumer goes on
            log.exception("title.encoded %s failed", envelope.id)
            await message.nak(delay=RETRY_DELAY_S)
            return
        await message.ack()

    async def consume(self, consumer: Consumer) -> None:
        await consumer.start()
        self.events_flowing = True
        while True:
            try:
                batch = await consumer.fetch(FETCH_BATCH, FETCH_TIMEOUT_S)
            except TimeoutError:  # nothing arrived (nats-py does not always say it its way)
                continue
            for envelope, message in batch:
                await self.handle(envelope, message)

    async def follow_events(self) -> None:
        """Consume `title.encoded` for as long as the catalog runs, reconnecting on failure."""
        assert self.consumer is not None
        while True:
            consumer = self.consumer()
            try:
                await self.consume(consumer)
            except Exception:  # never die silently: say why, reconnect
                log.exception("title.encoded consumer stopped; reconnecting")
            finally:
                self.events_flowing = False
                await consumer.aclose()
            await asyncio.sleep(self.options.consumer_retry_s)

    async def run(self) -> None:
        events = None
        if self.consumer is not None:
            events = asyncio.create_task(self.follow_events())
        try:
            while True:
                try:
                    await self.sweep()
                except ReelcloudError as exc:
                    log.warning("origin sweep failed: %s", exc.message)
                interval = self.options.sweep_interval_s
                await asyncio.sleep(interval * 10 if self.events_flowing else interval)
        finally:
            if events is not None:
                events.cancel()
                await asyncio.gather(events, return_exceptions=True)
