import asyncio
import time

import aiohttp
import pytest
import pytest_asyncio
from tests.support.factories import free_port, topology
from tests.support.servers import registry_peers

from reelcloud.launcher.engines.seaweedfs import SeaweedEngine
from reelcloud.launcher.process import ManagedProcess


@pytest.fixture
def two_peer_topology():
    return topology([free_port(), free_port()])


@pytest_asyncio.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest_asyncio.fixture
async def registry(tmp_path):
    """One registry peer on a free port, with test timings (renew 1 s, lease 3 s)."""
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path) as (peer,):
        yield peer


@pytest_asyncio.fixture
async def seaweed(tmp_path):
    """A real SeaweedFS S3 gateway (weed mini) on free loopback ports."""
    engine = SeaweedEngine(tmp_path / "seaweedfs", tmp_path / "seaweedfs.log")
    process = ManagedProcess(await asyncio.to_thread(engine.prepare), restart=False)
    process.start()
    deadline = time.monotonic() + 30
    while not await engine.ready():
        assert time.monotonic() < deadline, process.log_tail()
        await asyncio.sleep(0.2)
    yield engine
    await process.stop()
