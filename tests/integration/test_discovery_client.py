"""The discovery client against a real registry: deltas, reconciliation, re-registration."""

import pytest
from tests.support.factories import discovery_client, free_port, topology
from tests.support.servers import registry_peers, wait_for

from reelcloud.platform.errors import NoInstancesError
from reelcloud.platform.eureka import InstanceStatus
from reelcloud.registry.api import SERVER

pytestmark = pytest.mark.asyncio


def make(topo, service, number, *, fetch=False):
    return discovery_client(topo.registry_urls, service, number, fetch=fetch)


async def test_deltas_keep_the_copy_current(tmp_path):
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path):
        observer = make(topo, "play-api", 1, fetch=True)
        await observer.start()
        providers = [make(topo, "catalog", n) for n in (1, 2)]
        for p in providers:
            await p.start()
        await wait_for(lambda: len(observer.instances("catalog")) == 2)
        await providers[0].aclose()
        await wait_for(lambda: len(observer.instances("catalog")) == 1)
        assert observer.full_fetches == 1  # everything after the first fetch came as deltas
        assert observer.delta_fetches >= 2
        await providers[1].aclose()
        await observer.aclose()


async def test_a_delta_that_does_not_reconcile_triggers_a_full_fetch(tmp_path):
    # Changes leave the delta almost at once, so the client misses them and its hashcode
    # disagrees with the server's.
    topo = topology([free_port()], delta_retention_s=0.05)
    async with registry_peers(topo, tmp_path):
        observer = make(topo, "play-api", 1, fetch=True)
        await observer.start()
        provider = make(topo, "catalog", 1)
        await provider.start()
        await wait_for(lambda: observer.instances("catalog"))
        assert observer.full_fetches >= 2
        await provider.aclose()
        await observer.aclose()


async def test_client_registers_again_when_the_registry_forgets_it(tmp_path):
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path) as (peer,):
        provider = make(topo, "catalog", 1)
        await provider.start()
        registry = peer.app[SERVER].registry
        registry.cancel("CATALOG", "host:catalog:1")
        await wait_for(
            lambda: registry.applications().get("CATALOG", "host:catalog:1"), timeout_s=4
        )
        await provider.aclose()


async def test_unreachable_instances_are_dropped_locally(tmp_path):
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path):
        observer = make(topo, "play-api", 1, fetch=True)
        await observer.start()
        providers = [make(topo, "catalog", n) for n in (1, 2)]
        for p in providers:
            await p.start()
        await wait_for(lambda: len(observer.instances("catalog")) == 2)
        dead = observer.instances("catalog")[0]
        observer.mark_unreachable(dead)
        assert {observer.choose("catalog").instance_id for _ in range(4)} == {
            i.instance_id for i in observer.instances("catalog")
        }
        assert dead.instance_id not in {i.instance_id for i in observer.instances("catalog")}
        for p in providers:
            await p.aclose()
        await wait_for(lambda: not observer.instances("catalog"))
        with pytest.raises(NoInstancesError):
            observer.choose("catalog")
        await observer.aclose()


async def test_own_status_change_reaches_the_registry(tmp_path):
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path) as (peer,):
        provider = make(topo, "catalog", 1)
        await provider.start()
        await provider.set_status(InstanceStatus.DOWN)
        held = peer.app[SERVER].registry.instance("CATALOG", "host:catalog:1")
        assert held.status is InstanceStatus.DOWN
        await provider.aclose()
