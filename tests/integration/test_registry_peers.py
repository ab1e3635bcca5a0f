"""Two registry peers replicating to each other, and recovering after outages."""

import asyncio
import time

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
        try:
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
            await wait_for(lambda: b.app[SERVER].registry.renewals_total > renewals + 1)
        finally:
            await catalog.aclose()
        await wait_for(lambda: not holds(b, "CATALOG", "host:catalog:1"))
        assert b.app[SERVER].replicator.status()[0]["dropped"] == 0


async def test_a_peer_started_later_copies_the_registry(tmp_path, two_peer_topology):
    first = RunningService(registry_settings(two_peer_topology, 0, tmp_path))
    clients = [client(two_peer_topology, "catalog", n) for n in range(3)]
    second = RunningService(registry_settings(two_peer_topology, 1, tmp_path))
    try:
        await first.start()
        for c in clients:
            await c.start()
        await second.start()  # ready only after its start-up sync
        for n in range(3):
            assert holds(second, "CATALOG", f"host:catalog:{n}")
        assert second.app[SERVER].registry.expected_clients >= 3
    finally:
        for c in clients:
            await c.aclose()
        await second.stop()
        await first.stop()


async def test_clients_ride_out_a_total_registry_outage(tmp_path, two_peer_topology, caplog):
    topo = two_peer_topology
    peers = [RunningService(registry_settings(topo, i, tmp_path)) for i in range(2)]
    provider = client(topo, "catalog", 1)
    consumer = client(topo, "play-api", 1, fetch=True)
    returned = []
    try:
        await asyncio.gather(*(p.start() for p in peers))
        await provider.start()
        await consumer.start()
        await wait_for(lambda: consumer.instances("catalog"), what="the consumer sees catalog")

        await asyncio.gather(*(p.stop() for p in peers))
        caplog.clear()

        def failed(message):
            return any(message in r.getMessage() for r in caplog.records)

        await wait_for(
            lambda: failed("heartbeat failed") and failed("registry refresh failed"),
            what="heartbeats and registry fetches fail with every peer down",
        )
        assert consumer.choose("catalog").instance_id == "host:catalog:1"  # from the cached copy

        # One peer comes back empty (its partner is down): renewals refill it.
        a = RunningService(registry_settings(topo, 0, tmp_path))
        returned.append(a)
        await a.start()
        await wait_for(
            lambda: holds(a, "CATALOG", "host:catalog:1"), what="renewals refill the first peer"
        )
        # The other comes back and copies from it.
        b = RunningService(registry_settings(topo, 1, tmp_path))
        returned.append(b)
        await b.start()
        assert holds(b, "CATALOG", "host:catalog:1")
    finally:
        await provider.aclose()
        await consumer.aclose()
        for peer in [*reversed(returned), *peers]:
            await peer.stop()


async def test_self_preservation_stops_eviction_when_many_renewals_stop(tmp_path, caplog):
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path) as (peer,):
        fleet = [client(topo, "catalog", n) for n in range(6)]
        try:
            for c in fleet:
                await c.start()
            registry = peer.app[SERVER].registry
            await wait_for(registry.lease_expiration_enabled, what="lease expiration is enabled")
            # Most of the fleet stops renewing at once, as in a network partition (4 of 6: even
            # with timer jitter the survivors stay well under the threshold).
            silent = fleet[:4]
            for c in silent:
                await c.aclose(deregister=False)
            await wait_for(
                lambda: registry.status()["self_preservation_mode"],
                what="self-preservation turns on",
            )

            def silent_leases_expired():
                now_ms = time.time() * 1000
                return all(
                    now_ms > lease.last_renewal_ts + lease.duration_s * 1000
                    for lease in (
                        registry.instance("CATALOG", c.instance.instance_id).lease_info
                        for c in silent
                    )
                )

            await wait_for(silent_leases_expired, what="the silent ones' leases expire")
            assert registry.evict() == []  # an eviction pass now takes nothing
            assert registry.size() == 7  # 6 + the registry itself: nothing evicted
            assert registry.evicted_total == 0
            assert any("self-preservation on" in r.getMessage() for r in caplog.records)
        finally:
            for c in fleet:
                await c.aclose()


async def test_an_instance_that_stops_renewing_is_evicted(tmp_path):
    topo = topology([free_port()])
    async with registry_peers(topo, tmp_path) as (peer,):
        # 1 of 20 stops: 5 % lost, far from the 15 % that would trigger self-preservation.
        fleet = [client(topo, "catalog", n) for n in range(20)]
        try:
            for c in fleet:
                await c.start()
            registry = peer.app[SERVER].registry
            await wait_for(registry.lease_expiration_enabled, what="lease expiration is enabled")
            await fleet[0].aclose(deregister=False)  # like kill -9: no cancel is sent
            await wait_for(
                lambda: not holds(peer, "CATALOG", "host:catalog:0"),
                what="the silent instance is evicted",
            )
            assert registry.evicted_total == 1
            assert registry.size() == 20
        finally:
            for c in fleet:
                await c.aclose()
