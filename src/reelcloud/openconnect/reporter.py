"""Reports to cache control: health, routability and holdings, every `report_interval_s`.

The first report after a start (or whenever cache control asks) lists every content id held;
the others carry only what was added and removed since the last acknowledged report, so a
report stays small however large the disk. A report that fails is not counted: the next one
carries the same changes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from reelcloud.openconnect.fill import FillAgent
from reelcloud.openconnect.server import SegmentServer
from reelcloud.platform.discovery import DiscoveryClient, ServiceHttpClient
from reelcloud.platform.errors import ReelcloudError
from reelcloud.platform.oca_auth import signed_headers
from reelcloud.platform.topology import OcaConfig, OpenConnectConfig

log = logging.getLogger(__name__)

CACHE_CONTROL = "cache-control"


class Reporter:
    def __init__(
        self,
        oca: OcaConfig,
        config: OpenConnectConfig,
        server: SegmentServer,
        fill: FillAgent,
        discovery: DiscoveryClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.oca = oca
        self.config = config
        self.server = server
        self.fill = fill
        self.discovery = discovery
        self._clock = clock
        self._seq = 0
        self._reported: set[str] | None = None  # None: send the full list
        self._last = (clock(), 0, 0, 0)  # time, bytes, requests, errors
        self._wake = asyncio.Event()
        self.draining = False
        self.cache_control: ServiceHttpClient | None = None

    def wake(self) -> None:
        """Report now (fill finished a title: steering and peers should know soon)."""
        self._wake.set()

    def build(self) -> dict[str, Any]:
        stats, store = self.server.stats, self.server.store
        now = self._clock()
        then, sent, requests, errors = self._last
        elapsed = max(now - then, 1e-3)
        new_requests = stats.requests - requests
        held = set(store.sizes)
        report: dict[str, Any] = {
            "seq": self._seq,
            "health": {
                "active_connections": self.server.active_connections,
                "bytes_per_s": round((stats.bytes_sent - sent) / elapsed, 1),
                "requests_per_s": round(new_requests / elapsed, 2),
                "error_rate": round((stats.errors - errors) / new_requests, 4)
                if new_requests
                else 0.0,
                "disk_used": store.used_bytes,
                "disk_free": store.free_bytes,
                "draining": self.draining,
            },
            "prefixes": self.config.served_prefixes(self.config.site(self.oca.site)),
            "fill": self.fill.stats(),
        }
        if self._reported is None:
            report["full"] = sorted(held)
        else:
            report["added"] = sorted(held - self._reported)
            report["removed"] = sorted(self._reported - held)
        self._pending = (now, stats.bytes_sent, stats.requests, stats.errors, held)
        return report

    async def send(self) -> None:
        assert self.cache_control is not None
        body = orjson.dumps(self.build())
        path = "/v1/reports"
        headers = signed_headers(self.config.report_key(), self.oca.id, "POST", path, body)
        answer = await self.cache_control.post(path, body, headers)
        now, sent, requests, errors, held = self._pending
        self._last = (now, sent, requests, errors)
        self._seq += 1
        self._reported = None if answer.get("need_full") else held

    async def run(self) -> None:
        self.cache_control = ServiceHttpClient(self.discovery, CACHE_CONTROL, timeout_s=5)
        try:
            while True:
                try:
                    await self.send()
                except (ReelcloudError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                    log.warning("report to cache control failed: %s", exc)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.report_interval_s)
        finally:
            await self.cache_control.aclose()
