"""The launcher with real embedded PostgreSQL and NATS, and real service processes."""

import asyncio
import contextlib
import os
import signal

import aiohttp
import asyncpg
import nats
import pytest
from tests.support.cli import (
    ECHO_SERVICE,
    cli_env,
    processes_mentioning,
    reelcloud,
    status,
    wait_gone,
    wait_status,
)
from tests.support.factories import free_port, topology_dict, write_topology

from reelcloud.launcher.secrets import load_secrets
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore


def all_up(current):
    return current["phase"] == "running" and all(
        i["status"] == "UP" and i["process"] == "running" for i in current["instances"]
    )


@pytest.fixture
def platform_dir(tmp_path):
    """A platform with both engines, two registry peers and two echo instances, detached."""
    doc = topology_dict(
        [free_port(), free_port()], services=[{**ECHO_SERVICE, "instances": 2, "database": True}]
    )
    doc["engines"] = {
        "postgres": {"enabled": True},
        "nats": {"enabled": True},
        "seaweedfs": {"enabled": True},
        "memcached": {"enabled": True},
    }
    topology = write_topology(tmp_path / "topology.yaml", doc)
    data_dir = tmp_path / "data"
    result = reelcloud("up", "--detach", "--topology", str(topology), "--data-dir", str(data_dir))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield data_dir
    finally:
        reelcloud("down", "--data-dir", str(data_dir))
        assert wait_gone(str(data_dir)) == []


async def post_echo(address):
    async with aiohttp.ClientSession() as session, session.post(f"http://{address}/echo") as r:
        return await r.json()


async def use_postgres(url):
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS probe (n int)")
        await conn.execute("INSERT INTO probe VALUES (42)")
        return await conn.fetchval("SELECT sum(n) FROM probe")
    finally:
        await conn.close()


async def use_object_store(url, data_dir):
    secrets = load_secrets(data_dir)
    async with ObjectStore(url, secrets.s3_access_key, secrets.s3_secret_key) as store:
        await store.ensure_bucket(ASSETS_BUCKET)
        await store.put(ASSETS_BUCKET, "probe/seg1.m4s", b"segment")
        return await store.get(ASSETS_BUCKET, "probe/seg1.m4s")


async def use_jetstream(url):
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        await js.add_stream(name="PROBE", subjects=["probe.>"])
        ack = await js.publish("probe.one", b"hello")
        sub = await js.pull_subscribe("probe.>", durable="probe")
        (message,) = await sub.fetch(1, timeout=5)
        await message.ack()
        return ack.seq, message.data
    finally:
        await client.close()


def test_platform_runs_supervises_and_scales(platform_dir):
    current = wait_status(platform_dir, all_up)
    services = sorted(i["service"] for i in current["instances"])
    assert services == ["echo", "echo", "registry", "registry"]
    assert {e["name"] for e in current["engines"]} == {
        "postgres",
        "nats",
        "seaweedfs",
        "memcached-z1-1",
        "memcached-z2-1",
    }
    assert all(peer["reachable"] for peer in current["registry"]["peers"])
    assert {i["health"] for i in current["instances"]} == {"ok"}
    table = reelcloud("status", "--data-dir", str(platform_dir))
    assert table.returncode == 0
    assert table.stdout.count("UP") >= 4
    assert "SELF-PRESERVATION" not in table.stdout
    engines = {e["name"]: e["url"] for e in current["engines"]}

    # The engines are real, and services are told where they are. PostgreSQL takes no
    # connection without a password; the echo service's role reaches its own database only.
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(use_postgres(engines["postgres"]))
    secrets = load_secrets(platform_dir)
    port = engines["postgres"].rsplit(":", 1)[1].split("/")[0]
    echo_db = f"postgresql://reelcloud_echo:{secrets.database_password('reelcloud_echo')}@127.0.0.1:{port}"
    assert asyncio.run(use_postgres(f"{echo_db}/reelcloud_echo")) == 42
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(use_postgres(f"{echo_db}/postgres"))
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(
            use_postgres(f"postgresql://reelcloud_echo:wrong@127.0.0.1:{port}/reelcloud_echo")
        )
    echo = next(i for i in current["instances"] if i["service"] == "echo")
    told = asyncio.run(post_echo(echo["address"]))
    assert told["database_url_set"] is True
    assert told["memcached"] == {"z1": engines["memcached-z1-1"], "z2": engines["memcached-z2-1"]}
    assert asyncio.run(use_jetstream(engines["nats"])) == (1, b"hello")
    assert asyncio.run(use_object_store(engines["seaweedfs"], platform_dir)) == b"segment"

    # kill -9 an instance: the launcher restarts it and it registers again.
    victim = next(i for i in current["instances"] if i["service"] == "echo")
    os.kill(victim["pid"], signal.SIGKILL)

    def victim_revived(s):
        return all_up(s) and any(
            i["id"] == victim["id"] and i["restarts"] == 1 and i["pid"] not in (None, victim["pid"])
            for i in s["instances"]
        )

    wait_status(platform_dir, victim_revived)

    # Scale out and back in, live.
    assert reelcloud("scale", "echo", "3", "--data-dir", str(platform_dir)).returncode == 0

    def three_echoes_up(s):
        return all_up(s) and sum(i["service"] == "echo" for i in s["instances"]) == 3

    wait_status(platform_dir, three_echoes_up)
    assert reelcloud("scale", "echo", "1", "--data-dir", str(platform_dir)).returncode == 0
    shrunk = status(platform_dir)
    echoes = [i for i in shrunk["instances"] if i["service"] == "echo"]
    assert [i["id"].rsplit(":", 1)[1] for i in echoes] == ["1"]


def test_cli_refuses_bad_requests_with_one_line(platform_dir, tmp_path):
    cases = [
        (("scale", "nope", "2", "--data-dir", str(platform_dir)), "not in the topology"),
        (("scale", "registry", "3", "--data-dir", str(platform_dir)), "fixed by the topology"),
        (("scale", "echo", "-1", "--data-dir", str(platform_dir)), "-1"),
        (("up", "--data-dir", str(platform_dir)), "already running"),
        (("up", "--detach", "--data-dir", str(platform_dir)), "already running"),
        (("status", "--data-dir", str(tmp_path / "elsewhere")), "no platform is running"),
        (("down", "--data-dir", str(tmp_path / "elsewhere")), "no platform is running"),
    ]
    for args, message in cases:
        result = reelcloud(*args)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
    # And the platform is still fine.
    assert all_up(status(platform_dir))


def test_bad_topology_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones: []\nregistry: {peers: []}\n")
    result = reelcloud("up", "--topology", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_external_engines_are_used_instead_of_embedded(tmp_path):
    doc = topology_dict([free_port()], services=[ECHO_SERVICE])
    doc["engines"] = {
        "postgres": {"enabled": True},
        "nats": {"enabled": True},
        "seaweedfs": {"enabled": True},
    }
    topology = write_topology(tmp_path / "topology.yaml", doc)
    data_dir = tmp_path / "data"
    env = {
        "REELCLOUD_DATABASE_URL": "postgresql://app@127.0.0.1:1/elsewhere",
        "REELCLOUD_NATS_URL": "nats://127.0.0.1:2",
        "REELCLOUD_S3_URL": "http://127.0.0.1:3",
    }

    result = reelcloud(
        "up", "--detach", "--topology", str(topology), "--data-dir", str(data_dir),
        env=cli_env(**env),
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr
        current = wait_status(data_dir, all_up)
        assert current["engines"] == []
        assert not (data_dir / "engines" / "postgres").exists()
    finally:
        reelcloud("down", "--data-dir", str(data_dir))
    assert wait_gone(str(data_dir)) == []


def test_nothing_is_left_behind_when_the_launcher_is_killed(tmp_path):
    doc = topology_dict([free_port()], services=[ECHO_SERVICE])
    doc["engines"] = {"postgres": {"enabled": True}, "nats": {"enabled": False}}
    topology = write_topology(tmp_path / "topology.yaml", doc)
    data_dir = tmp_path / "data"
    result = reelcloud("up", "--detach", "--topology", str(topology), "--data-dir", str(data_dir))
    try:
        assert result.returncode == 0, result.stderr
        current = wait_status(data_dir, all_up)
        os.kill(current["launcher_pid"], signal.SIGKILL)
        # The kernel signals every child when its parent dies (PR_SET_PDEATHSIG).
        assert wait_gone(str(data_dir)) == []
    finally:  # if the test failed, what the kill left behind is stopped here, by pid
        reelcloud("down", "--data-dir", str(data_dir))
        for pid in processes_mentioning(str(data_dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_crash_looping_service_fails_up_quickly_with_its_log(tmp_path):
    broken = {"name": "broken", "entrypoint": "tests.support.no_such_module:create_app"}
    topology = write_topology(
        tmp_path / "topology.yaml", topology_dict([free_port()], services=[broken])
    )
    data_dir = tmp_path / "data"
    result = reelcloud("up", "--topology", str(topology), "--data-dir", str(data_dir))
    assert result.returncode == 1
    # Given up on as a crash loop, not after the ready timeout ("was not ready after").
    assert "keeps exiting" in result.stderr
    assert "cannot be loaded" in result.stderr  # the instance's own last words
    assert wait_gone(str(data_dir)) == []


def test_a_service_that_never_gets_ready_fails_up_with_where_it_is_stuck(tmp_path):
    stuck = {"name": "stuck", "entrypoint": "tests.support.stuck_service:create_app"}
    topology = write_topology(
        tmp_path / "topology.yaml", topology_dict([free_port()], services=[stuck])
    )
    data_dir = tmp_path / "data"
    result = reelcloud(
        "up", "--topology", str(topology), "--data-dir", str(data_dir),
        env=cli_env(REELCLOUD_READY_TIMEOUT_S="3"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "was not ready after 3 s" in result.stderr
    # The instance's stacks, dumped on the launcher's SIGUSR1, name the line it is stuck on.
    assert "stuck_service.py" in result.stderr, result.stderr
    assert "in create_app" in result.stderr, result.stderr
    assert wait_gone(str(data_dir)) == []
