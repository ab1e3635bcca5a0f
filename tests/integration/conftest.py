import asyncio

import aiohttp
import pytest
import pytest_asyncio
from tests.support.engines import NatsServer
from tests.support.factories import (
    TEST_S3_ACCESS_KEY,
    TEST_S3_SECRET_KEY,
    free_port,
    topology,
)
from tests.support.servers import registry_peers
from tests.support.waiting import wait_for

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


@pytest.fixture
def nats_server(tmp_path):
    """A real nats-server with JetStream, which the test may stop and start again."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def seaweed(tmp_path):
    """A real SeaweedFS S3 gateway (weed mini) on free loopback ports."""
    engine = SeaweedEngine(
        tmp_path / "seaweedfs", tmp_path / "seaweedfs.log", TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY
    )
    process = ManagedProcess(await asyncio.to_thread(engine.prepare), restart=False)
    process.start()
    try:
        await wait_for(
            engine.ready,
            what=lambda: f"SeaweedFS answers on {engine.url}; its log ends:\n{process.log_tail()}",
            interval_s=0.2,
        )
        yield engine
    finally:
        await process.stop()
