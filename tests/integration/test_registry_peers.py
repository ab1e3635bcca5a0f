"""Two registry peers replicating to each other, and recovering after outages."""

import asyncio

import pytest
from tests.support.factories import discovery_client, free_port, topology
from tests.support.servers import RunningService, registry_peers, registry_settings, wait_for

from reelcloud.platform.eureka import InstanceStatus
from reelcloud.registry.api import SERVER

pytestmark = pytest.mark.asyncio


def client(topo, service, number, *, fetch=False):
    return discovery_client(topo.registry_urls, service, number, fetch=fetch)


def holds(peer, app, instance_id):
    return peer.app[SERVER].registry.applications().get(app, instance_id) is not None


async def test_changes_at_one_peer_reach_the_other(tmp_path, two_peer_topology):
    async with registry_peers(two_peer_topology, tmp_path) as (a, b):
        catalog = client(two_peer_topology, "catalog", 1)
        await catalog.start()  # registers with the first URL: peer a
        await wait_for(lambda: holds(b, "CATALOG", "host:catalog:1"))
        a.app[SERVER].registry.set_status_override(
            "CATALOG", "host:catalog:1", InstanceStatus.OUT_OF_SERVICE
        )
        await wait_for(
            lambda: (
                b.app[SERVER].registry.instance("CATALOG", "host:catalog:1").status
                is InstanceStatus.OUT_OF_SERVICE
            )
        )
        # Heartbeats sent to a keep b's lease fresh too.
        renewals = b.app[SERVER].registry.renewals_total
        await wait_for(lambda: b.app[SERVER].registry.renewals_total > renewals + 1, timeout_s=5)
        await catalog.aclose()
        await wait_for(lambda: not holds(b, "CATALOG", "host:catalog:1"))
        assert b.app[SERVER].replicator.status()[0]["dropped"] == 0


async def test_a_peer_started_later_copies_the_registry(tmp_path, two_peer_topology):
    first = RunningService(registry_settings(two_peer_topology, 0, tmp_path))
    await first.start()
    clients = [client(two_peer_topology, "catalog", n) for n in range(3)]
    for c in clients:
        await c.start()
    second = RunningService(registry_settings(two_peer_topology, 1, tmp_path))
    await second.start()  # ready only after its start-up sync
    try:
        for n in range(3):
            assert holds(second, "CATALOG", f"host:catalog:{n}")
        assert second.app[SERVER].registry.expected_clients >= 3
    finally:
        for c in clients:
            await c.aclose()
        await second.stop()
        await first.stop()


async def test_clients_ride_out_a_total_registry_outage(tmp_path, two_peer_topology):
    topo = two_peer_topology
    peers = [RunningService(registry_settings(topo, i, tmp_path)) for i in range(2)]
    await asyncio.gather(*(p.start() for p in peers))
    provider = client(topo, "catalog", 1)
    consumer = client(topo, "play-api", 1, fetch=True)
    await provider.start()
    await consumer.start()
    await wait_for(lambda: consumer.instances("catalog"))

    await asyncio.gather(*(p.stop() for p in peers))
    await asyncio.sleep(1.5)  # heartbeats and fetches fail now
    assert consumer.choose("catalog").instance_id == "host:catalog:1"  # from the cached copy

    # One peer comes back empty (its partner is down): renewals refill it.
    a = RunningService(registry_settings(topo, 0, tmp_path))
    await a.start()
    await wait_for(lambda: holds(a, "CATALOG", "host:catalog:1"), timeout_s=5)
    # The other comes back and copies from it.
    b = RunningService(registry_settings(topo, 1, tmp_path))
    await b.start()
    assert holds(b, "CATALOG", "host:catalog:1")
    await provider.aclose()
    await consumer.aclose()
    await b.stop()
    await a.stop()


async def test_self_preservation_stops_eviction_when_many_renewals_stop(tmp_path, caplog):
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path) as (peer,):
        fleet = [client(topo, "catalog", n) for n in range(6)]
        for c in fleet:
            await c.start()
        registry = peer.app[SERVER].registry
        await wait_for(lambda: registry.lease_expiration_enabled(), timeout_s=6)
        # Most of the fleet stops renewing at once, as in a network partition (4 of 6: even
        # with timer jitter the survivors stay well under the threshold).
        for c in fleet[:4]:
            await c.aclose(deregister=False)
        await wait_for(lambda: registry.status()["self_preservation_mode"], timeout_s=8)
        await asyncio.sleep(3.5)  # past the 3 s lease of the silent ones
        assert registry.size() == 7  # 6 + the registry itself: nothing evicted
        assert any("self-preservation on" in r.getMessage() for r in caplog.records)
        for c in fleet[4:]:
            await c.aclose()


async def test_an_instance_that_stops_renewing_is_evicted(tmp_path):
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path) as (peer,):
        # 1 of 20 stops: 5 % lost, far from the 15 % that would trigger self-preservation.
        fleet = [client(topo, "catalog", n) for n in range(20)]
        for c in fleet:
            await c.start()
        registry = peer.app[SERVER].registry
        await wait_for(lambda: registry.lease_expiration_enabled(), timeout_s=6)
        await fleet[0].aclose(deregister=False)  # like kill -9: no cancel is sent
        await wait_for(lambda: not holds(peer, "CATALOG", "host:catalog:0"), timeout_s=8)
        assert registry.evicted_total == 1
        assert registry.size() == 20
        for c in fleet[1:]:
            await c.aclose()
