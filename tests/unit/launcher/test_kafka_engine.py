"""The Kafka engine's readiness check (a Metadata request on the wire) and how the launcher
wires it: after SeaweedFS, replaced by REELCLOUD_KAFKA_URL, skipped without an S3 store."""

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.factories import topology_dict

from reelcloud.launcher.engines.kafka import (
    KafkaEngine,
    S3Endpoint,
    metadata_broker_ports,
    metadata_request,
)
from reelcloud.launcher.engines.seaweedfs import SeaweedEngine
from reelcloud.launcher.secrets import load_or_create_secrets
from reelcloud.launcher.supervisor import Supervisor
from reelcloud.platform.settings import load_settings
from reelcloud.platform.topology import Topology, load_topology


def metadata_answer(correlation_id: int, brokers: list[tuple[str, int, str | None]]) -> bytes:
    """A Metadata v1 answer as a broker writes it (after the size), topics left out."""
    out = struct.pack(">ii", correlation_id, len(brokers))
    for node, (host, port, rack) in enumerate(brokers):
        out += struct.pack(f">ih{len(host)}si", node, len(host), host.encode(), port)
        out += (
            struct.pack(">h", -1) if rack is None else struct.pack(">h", len(rack)) + rack.encode()
        )
    return out + struct.pack(">ii", 0, 0)  # controller id, no topics


def request_correlation_id() -> int:
    return int(struct.unpack_from(">i", metadata_request(), 8)[0])


def test_metadata_request_is_v1_for_no_topic():
    request = metadata_request()
    (size, api_key, version) = struct.unpack_from(">ihh", request)
    assert size == len(request) - 4
    assert (api_key, version) == (3, 1)
    assert struct.unpack(">i", request[-4:]) == (0,)  # an empty topic array


def test_answer_lists_every_broker_port_with_or_without_rack():
    answer = metadata_answer(
        request_correlation_id(), [("127.0.0.1", 9092, None), ("broker-2.local", 9093, "rack-a")]
    )
    assert metadata_broker_ports(answer) == [9092, 9093]


def test_answer_to_another_request_names_no_broker():
    answer = metadata_answer(request_correlation_id() + 1, [("127.0.0.1", 9092, None)])
    assert metadata_broker_ports(answer) == []


async def serve(answer_for: Callable[[int], bytes | None]) -> tuple[asyncio.Server, int]:
    """A fake broker: reads one request and writes what `answer_for(port)` gives."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = struct.unpack(">i", await reader.readexactly(4))[0]
        await reader.readexactly(size)
        body = answer_for(port)
        if body is not None:
            writer.write(struct.pack(">i", len(body)) + body)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


def engine_on(port: int) -> KafkaEngine:
    return KafkaEngine(
        Path("/nonexistent.log"), lambda: S3Endpoint("http://127.0.0.1:1", "a", "b"), port=port
    )


@pytest.mark.asyncio
async def test_ready_when_the_answer_names_this_broker():
    server, port = await serve(
        lambda p: metadata_answer(request_correlation_id(), [("h", p, None)])
    )
    async with server:
        assert await engine_on(port).ready()


@pytest.mark.asyncio
async def test_not_ready_when_the_answer_names_another_broker():
    server, port = await serve(
        lambda p: metadata_answer(request_correlation_id(), [("h", p + 1, None)])
    )
    async with server:
        assert not await engine_on(port).ready()


@pytest.mark.asyncio
async def test_not_ready_when_the_connection_closes_unanswered():
    server, port = await serve(lambda p: None)
    async with server:
        assert not await engine_on(port).ready()


@pytest.mark.asyncio
async def test_not_ready_when_nothing_listens():
    server, port = await serve(lambda p: None)
    server.close()
    await server.wait_closed()
    assert not await engine_on(port).ready()


# ---- the launcher's wiring ---------------------------------------------------------------------


def supervisor(
    tmp_path: Path,
    engines: dict[str, object],
    reported: list[str] | None = None,
    **settings: object,
) -> Supervisor:
    doc = topology_dict([8761])
    doc["engines"] = engines
    built = Supervisor(
        load_settings(topology=Topology.model_validate(doc), data_dir=tmp_path, **settings),
        report=(reported if reported is not None else []).append,
    )
    built.secrets = load_or_create_secrets(tmp_path)
    return built


ON = {"enabled": True}
OFF = {"enabled": False}


def test_the_broker_starts_after_the_s3_store_that_holds_its_log(tmp_path):
    sup = supervisor(tmp_path, {"postgres": OFF, "nats": OFF, "seaweedfs": ON, "kafka": ON})
    engines = sup._engines_wanted()
    assert [type(e) for e in engines] == [SeaweedEngine, KafkaEngine]
    seaweed, kafka = engines
    assert isinstance(seaweed, SeaweedEngine)
    assert isinstance(kafka, KafkaEngine)
    # Known only once SeaweedFS is up: asked for when the broker is prepared.
    sup.engine_env.update({"REELCLOUD_S3_URL": "http://127.0.0.1:4242", **seaweed.extra_env})
    storage = kafka.storage()
    assert storage.url == "http://127.0.0.1:4242"
    assert storage.access_key == sup._secrets.s3_access_key
    assert storage.secret_key == sup._secrets.s3_secret_key


def test_an_external_s3_lends_the_broker_its_own_keys(tmp_path):
    sup = supervisor(
        tmp_path,
        {"postgres": OFF, "nats": OFF, "seaweedfs": ON, "kafka": ON},
        s3_url="http://s3.example:9000",
        s3_access_key="deploy-key",
        s3_secret_key="deploy-secret",
    )
    (kafka,) = sup._engines_wanted()
    assert isinstance(kafka, KafkaEngine)
    assert kafka.storage() == S3Endpoint("http://s3.example:9000", "deploy-key", "deploy-secret")


def test_an_external_kafka_replaces_the_engine(tmp_path):
    sup = supervisor(
        tmp_path,
        {"postgres": OFF, "nats": OFF, "seaweedfs": ON, "kafka": ON},
        kafka_url="k1:9092,k2:9092",
    )
    assert [type(e) for e in sup._engines_wanted()] == [SeaweedEngine]
    assert sup.engine_env["REELCLOUD_KAFKA_URL"] == "k1:9092,k2:9092"


def test_no_broker_without_an_s3_store(tmp_path):
    reported: list[str] = []
    engines = {"postgres": OFF, "nats": OFF, "seaweedfs": OFF, "kafka": ON}
    sup = supervisor(tmp_path, engines, reported)
    assert sup._engines_wanted() == []
    assert any("kafka" in line and "not started" in line for line in reported), reported


def test_kafka_url_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REELCLOUD_KAFKA_URL", "127.0.0.1:9092")
    settings = load_settings(
        topology=Topology.model_validate(topology_dict([8761])), data_dir=tmp_path
    )
    assert settings.kafka_url == "127.0.0.1:9092"


def test_the_shipped_topology_runs_a_broker_and_others_name_it_to_get_one():
    assert load_topology(None).engines.kafka.enabled
    assert not Topology.model_validate(topology_dict([8761])).engines.kafka.enabled
