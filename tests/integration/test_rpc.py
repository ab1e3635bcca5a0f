"""gRPC between real service processes' servers on loopback: deadlines, metadata, errors,
and resilience commands around a slow or dead dependency."""

import sys
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tests.support.factories import free_port, registry_credential, topology_dict
from tests.support.servers import RunningService, registry_peers, wait_for

from reelcloud.platform.app import STATE
from reelcloud.platform.resilience import CircuitState
from reelcloud.platform.rpc.codegen import generate
from reelcloud.platform.settings import Settings
from reelcloud.platform.topology import Topology

pytestmark = pytest.mark.asyncio
PROTO = Path(__file__).resolve().parents[1] / "proto"
RELAY = "tests.support.relay_service:create_app"


@pytest.fixture(scope="module")
def relay_stubs(tmp_path_factory):
    out = tmp_path_factory.mktemp("stubs")
    generated = generate(PROTO, out)
    assert {p.name for p in generated} == {"relay_pb2.py", "relay_pb2_grpc.py"}
    sys.path.insert(0, str(out))
    import relay_pb2
    import relay_pb2_grpc

    yield relay_pb2, relay_pb2_grpc
    sys.path.remove(str(out))


@pytest_asyncio.fixture
async def relays(relay_stubs, tmp_path):
    services = [{"name": n, "entrypoint": RELAY} for n in ("relay-a", "relay-b")]
    topology = Topology.model_validate(topology_dict([free_port()], services=services))
    async with registry_peers(topology, tmp_path):
        started = []
        try:
            for name in ("relay-a", "relay-b"):
                settings = Settings(
                    service=name,
                    topology=topology,
                    data_dir=tmp_path,
                    log_format="text",
                    **registry_credential(name),
                )
                started.append(await RunningService(settings).start())
            a, b = started
            await wait_for(
                lambda: a.app[STATE].discovery.instances("relay-b"),
                what="relay-a's registry copy lists relay-b",
            )
            pb2, pb2_grpc = relay_stubs
            port = a.app[STATE].discovery.instance.metadata["grpc.port"]
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            try:
                yield a, b, pb2_grpc.RelayStub(channel), pb2, channel
            finally:
                await channel.close()
        finally:
            for service in reversed(started):
                await service.stop()


async def test_deadline_request_id_and_fault_header_travel_two_hops(relays):
    _a, _b, stub, pb2, _ = relays
    response = await stub.Call(
        pb2.CallRequest(hops=["relay-b"], next_timeout_ms=10_000),
        timeout=1.0,
        metadata=(("x-request-id", "req-7"), ("x-reelcloud-fault", "latency=100")),
    )
    first, second = response.hops
    assert first.instance == "relay-a"
    assert second.instance == "relay-b"
    assert 0 < first.remaining_s <= 1.0
    # relay-a asked for 10 s, but relay-b got no more than relay-a had left (give or take the
    # grpc-timeout header's rounding on the wire, well under a millisecond here).
    assert 0 < second.remaining_s < first.remaining_s + 0.002
    assert second.remaining_s < 1.0
    assert first.request_id == second.request_id == "req-7"
    assert second.fault == "latency=100"


async def test_slow_dependency_times_out_into_the_fallback_within_budget(relays):
    a, _b, stub, pb2, _ = relays
    commands = a.app[STATE].commands
    commands.config.set_command("relay.relay-b", timeout_ms=200)
    response = await stub.Call(
        pb2.CallRequest(hops=["relay-b"], sleep_ms=1500, use_command=True), timeout=2
    )
    assert response.hops[-1].via == "fallback"
    # The command gave up at its timeout (and did not wait out the slow answer: the caller's
    # 2 s deadline would have failed the call first).
    events = commands.metrics["relay.relay-b"].cumulative
    assert (events["TIMEOUT"], events["FALLBACK_SUCCESS"], events["SUCCESS"]) == (1, 1, 0)


async def test_dead_dependency_opens_the_breaker_and_recovery_closes_it(relays):
    a, b, stub, pb2, _ = relays
    commands = a.app[STATE].commands
    # Open for as long as the test needs it open, however slowly the calls go; shortened
    # below for the recovery.
    commands.config.set_command("relay.relay-b", sleep_window_ms=60_000, timeout_ms=500)
    request = pb2.CallRequest(hops=["relay-b"], use_command=True)
    b_rpc = b.app[STATE].rpc
    await b_rpc.stop(grace_s=0)  # relay-b's gRPC dies; it stays registered, like a hung host
    for _ in range(20):
        response = await stub.Call(request, timeout=2)
        assert response.hops[-1].via == "fallback"
    assert commands.breaker("relay.relay-b").state is CircuitState.OPEN

    events = commands.metrics["relay.relay-b"].cumulative
    failed = events["FAILURE"] + events["TIMEOUT"]
    for _ in range(20):
        response = await stub.Call(request, timeout=2)
        assert response.hops[-1].via == "fallback"
    # Short-circuited: the dead dependency was not called again.
    assert events["SHORT_CIRCUITED"] >= 20
    assert events["FAILURE"] + events["TIMEOUT"] == failed

    commands.config.set_command("relay.relay-b", sleep_window_ms=300)
    await b_rpc.start()  # relay-b comes back on the same port

    async def recovered():
        response = await stub.Call(request, timeout=2)
        return response.hops[-1].instance == "relay-b"

    await wait_for(recovered, what="relay-b answers again, the breaker closed", interval_s=0.2)
    assert commands.breaker("relay.relay-b").state is CircuitState.CLOSED


async def test_errors_cross_the_wire_as_status_codes(relays):
    _a, _b, stub, pb2, _ = relays
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Call(pb2.CallRequest(hops=["relay-b"], fail="not_found"), timeout=2)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert "no such relay" in caught.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Call(pb2.CallRequest(hops=["relay-nowhere"]), timeout=2)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_health_service_answers(relays):
    _, _, _, _, channel = relays
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reply = await health.Check(
        health_pb2.HealthCheckRequest(service="reelcloud.testing.v1.Relay"), timeout=2
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
