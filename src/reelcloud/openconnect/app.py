"""One Open Connect appliance: the segment server on its own address (port 8700 by default),
the reporter and the fill agent, beside the platform's admin app (/healthz, /metrics, /info,
and /v1/oca with the disk and fill counters)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from reelcloud.openconnect.fill import FillAgent
from reelcloud.openconnect.reporter import CACHE_CONTROL, Reporter
from reelcloud.openconnect.server import SegmentServer
from reelcloud.openconnect.store import ContentStore
from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.discovery import ServiceHttpClient
from reelcloud.platform.errors import ConfigurationError, ReelcloudError
from reelcloud.platform.oca_auth import signed_headers
from reelcloud.platform.settings import Settings
from reelcloud.platform.signed_urls import UrlSigner
from reelcloud.platform.storage import ObjectStore
from reelcloud.platform.topology import OcaConfig, OpenConnectConfig

log = logging.getLogger(__name__)


class Appliance:
    def __init__(self, settings: Settings) -> None:
        config = settings.topology.openconnect
        if config is None or not settings.oca_id:
            raise ConfigurationError("an OCA needs the topology's openconnect section and oca_id")
        self.settings = settings
        self.config: OpenConnectConfig = config
        self.oca: OcaConfig = config.oca(settings.oca_id)
        config.report_key()  # it signs every report: refuse to start without the secret
        self.store = ContentStore(settings.data_dir / "oca" / self.oca.id, self.oca.capacity_bytes)
        self.server = SegmentServer(self.store, UrlSigner(config.url_keys()))
        self.origin = ObjectStore.from_settings(settings) if settings.s3_url else None
        self.fill = FillAgent(
            self.oca,
            self.store,
            UrlSigner(config.url_keys()),
            self.origin,
            log_path=self.store.root / "fill.log",
        )
        self.reporter: Reporter | None = None

    def info(self) -> dict[str, Any]:
        return {
            "oca_id": self.oca.id,
            "site": self.oca.site,
            "kind": self.oca.kind,
            "address": f"{self.oca.address}:{self.config.port}",
            "capacity_bytes": self.store.capacity_bytes,
            "used_bytes": self.store.used_bytes,
            "files": len(self.store.sizes),
            "titles_complete": self.store.complete_titles(),
            "serving": vars(self.server.stats) | {"active": self.server.active_connections},
            "fill": self.fill.stats(),
        }

    async def fill_forever(self, discovery: Any) -> None:
        path = "/v1/fill-manifest"
        cache_control = ServiceHttpClient(discovery, CACHE_CONTROL, timeout_s=10)
        try:
            while True:
                try:
                    headers = signed_headers(self.config.report_key(), self.oca.id, "GET", path)
                    manifest = await cache_control.request("GET", path, headers=headers)
                    await self.fill.fill(manifest)
                except (ReelcloudError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                    log.warning("fill round failed: %s", exc)
                await asyncio.sleep(self.config.fill_poll_interval_s)
        finally:
            await cache_control.aclose()


APPLIANCE = web.AppKey("appliance", Appliance)


async def oca_info(request: web.Request) -> web.Response:
    return web.json_response(request.app[APPLIANCE].info())


class _ApplianceCollector:
    """Prometheus views of the counters the appliance keeps anyway (read at scrape time)."""

    def __init__(self, appliance: Appliance) -> None:
        self.appliance = appliance

    def collect(self) -> Iterator[Any]:
        appliance = self.appliance
        stats = appliance.server.stats
        yield CounterMetricFamily("reelcloud_oca_bytes_sent", "bytes served", stats.bytes_sent)
        yield CounterMetricFamily("reelcloud_oca_requests", "requests served", stats.requests)
        yield CounterMetricFamily("reelcloud_oca_errors", "4xx/5xx replies", stats.errors)
        filled = CounterMetricFamily(
            "reelcloud_oca_fill_bytes", "bytes filled by source kind", labels=["source"]
        )
        for kind in ("peer", "tier", "origin"):
            filled.add_metric([kind], appliance.fill.bytes_by_source[kind])
        yield filled
        yield CounterMetricFamily(
            "reelcloud_oca_fill_corrupt",
            "downloads that failed verification",
            appliance.fill.corrupt,
        )
        yield GaugeMetricFamily(
            "reelcloud_oca_disk_used_bytes", "bytes on disk", appliance.store.used_bytes
        )
        yield GaugeMetricFamily(
            "reelcloud_oca_connections",
            "open client connections",
            appliance.server.active_connections,
        )


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    state = app[STATE]
    appliance = Appliance(settings)
    app[APPLIANCE] = appliance
    app.router.add_get("/v1/oca", oca_info)
    state.metrics.registry.register(_ApplianceCollector(appliance))

    async def data_plane(app: web.Application) -> AsyncIterator[None]:
        if appliance.origin is not None:
            await appliance.origin.start()
        await appliance.fill.start()
        await appliance.server.start(appliance.oca.address, appliance.config.port)
        reporter = Reporter(
            appliance.oca, appliance.config, appliance.server, appliance.fill, state.discovery
        )
        appliance.reporter = reporter
        appliance.fill.on_change = reporter.wake
        tasks = [
            asyncio.create_task(reporter.run()),
            asyncio.create_task(appliance.fill_forever(state.discovery)),
        ]
        log.info(
            "OCA %s serving on %s:%d",
            appliance.oca.id,
            appliance.oca.address,
            appliance.config.port,
        )
        yield
        # Leave steering first: a last report that says this OCA is draining.
        reporter.draining = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reporter.send(), 1.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        appliance.server.close()
        appliance.store.close()
        await appliance.fill.aclose()
        if appliance.origin is not None:
            await appliance.origin.aclose()

    app.cleanup_ctx.append(data_plane)
    return app
