"""Services run in the test's own event loop, on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from reelcloud.platform.app import STATE, readiness
from reelcloud.platform.server import resolve_entrypoint, serve
from reelcloud.platform.settings import Settings
from reelcloud.platform.topology import Topology
from tests.support.factories import TEST_REGISTRY_SECRET
from tests.support.waiting import wait_for

__all__ = ["RunningService", "registry_peers", "registry_settings", "wait_for"]


def registry_settings(topology: Topology, index: int, data_dir: Path) -> Settings:
    peer = topology.registry.peers[index]
    return Settings(
        service="registry",
        instance_id=f"test:registry:{index + 1}",
        host=peer.host,
        port=peer.port,
        zone=peer.zone,
        topology=topology,
        data_dir=data_dir,
        log_format="text",
        registry_secret=TEST_REGISTRY_SECRET,
    )


class RunningService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: web.Application = resolve_entrypoint(settings)(settings)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.app[STATE].address}"

    async def start(self) -> RunningService:
        self._task = asyncio.create_task(serve(self.settings, self.app, self._stop))
        await wait_for(lambda: _ready(self), what=f"{self.settings.service} is ready")
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


async def _ready(service: RunningService) -> bool:
    if service._task is not None and service._task.done():
        service._task.result()  # surface start-up errors
    return await readiness(service.app) is None


@contextlib.asynccontextmanager
async def registry_peers(
    topology: Topology, data_dir: Path, count: int | None = None
) -> AsyncIterator[list[RunningService]]:
    peers = [
        RunningService(registry_settings(topology, i, data_dir))
        for i in range(count if count is not None else len(topology.registry.peers))
    ]
    try:  # a peer that fails to start still has its partners stopped
        await asyncio.gather(*(p.start() for p in peers))
        yield peers
    finally:
        await asyncio.gather(*(p.stop() for p in peers), return_exceptions=True)
