import aiohttp
import pytest
import pytest_asyncio
from tests.support.factories import free_port, topology
from tests.support.servers import registry_peers


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
