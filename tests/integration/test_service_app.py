"""A service process made by the app factory: platform endpoints, errors, graceful shutdown."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from tests.support.factories import free_port, registry_env, topology_dict, write_topology
from tests.support.servers import registry_peers, wait_for

from reelcloud.platform.topology import Topology
from reelcloud.registry.api import SERVER

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]
ECHO = {"name": "echo", "entrypoint": "tests.support.echo_service:create_app"}


@pytest_asyncio.fixture
async def platform(tmp_path):
    doc = topology_dict([free_port()], services=[ECHO])
    path = write_topology(tmp_path / "topology.yaml", doc)
    async with registry_peers(Topology.model_validate(doc), tmp_path) as (peer,):
        yield peer, path


async def start_echo(tmp_path, topology_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REELCLOUD_TOPOLOGY_FILE": str(topology_path),
        "REELCLOUD_INSTANCE_ID": "host:echo:1",
        "REELCLOUD_DATA_DIR": str(tmp_path),
        **registry_env("echo"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reelcloud", "run", "echo", env=env, cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    announce = tmp_path / "run" / "host:echo:1.json"
    try:
        await wait_for(announce.exists, what="the echo instance announces its address")
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    import orjson

    return proc, "http://" + orjson.loads(announce.read_bytes())["address"]


async def test_platform_endpoints_and_errors(platform, tmp_path, http):
    peer, topology_path = platform
    proc, url = await start_echo(tmp_path, topology_path)
    try:
        async with http.get(url + "/healthz") as r:
            assert r.status == 200
        async with http.get(url + "/readyz") as r:
            assert (await r.json()) == {"status": "ready"}
        async with http.post(
            url + "/echo", data=b"hello", headers={"X-Request-Id": "abc-123"}
        ) as r:
            assert r.headers["X-Request-Id"] == "abc-123"
            assert (await r.json())["request_id"] == "abc-123"
        async with http.post(url + "/echo", headers={"X-Request-Id": "bad id\u2028"}) as r:
            generated = r.headers["X-Request-Id"]
            assert len(generated) == 32
            assert generated != "bad id"
        async with http.get(url + "/info") as r:
            info = await r.json()
            assert info["service"] == "echo"
            assert info["instance_id"] == "host:echo:1"
            assert info["registered"] is True
        async with http.get(url + "/missing") as r:
            assert r.status == 404
            assert (await r.json())["error"] == {
                "code": "not_found",
                "message": "there is no such thing",
            }
        async with http.get(url + "/boom") as r:
            assert r.status == 500
            body = await r.text()
            assert "secret stack trace" not in body
            assert "internal" in body
        async with http.get(url + "/nowhere") as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "not_found"
        async with http.get(url + "/metrics") as r:
            text = await r.text()
            assert (
                'reelcloud_http_requests_total{method="POST",route="/echo",service="echo",status="200"} 2.0'
                in text
            )
            assert "reelcloud_http_request_duration_seconds_bucket" in text
            assert "process_resident_memory_bytes" in text
        registry = peer.app[SERVER].registry
        assert registry.instance("ECHO", "host:echo:1").status.value == "UP"
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()


async def test_sigterm_deregisters_drains_and_exits_in_time(platform, tmp_path, http):
    peer, topology_path = platform
    proc, url = await start_echo(tmp_path, topology_path)
    try:
        registry = peer.app[SERVER].registry
        await wait_for(lambda: registry.applications().get("ECHO", "host:echo:1"))
        in_flight = asyncio.create_task(http.get(url + "/slow?s=1.5"))

        async def slow_request_in_flight():
            async with http.get(url + "/metrics") as r:  # this scrape counts itself: 2
                return 'reelcloud_http_requests_in_flight{service="echo"} 2.0' in await r.text()

        await wait_for(slow_request_in_flight, what="the echo service is handling /slow")
        proc.send_signal(signal.SIGTERM)
        # Out of the registry at once, while the in-flight request still drains.
        await wait_for(
            lambda: registry.applications().get("ECHO", "host:echo:1") is None,
            what="SIGTERM takes the instance out of the registry",
        )
        assert not in_flight.done()
        response = await in_flight
        assert response.status == 200  # the in-flight request was allowed to finish
        assert (await response.json())["slept_s"] == 1.5
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:  # a failed test leaves no echo process behind
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert not (tmp_path / "run" / "host:echo:1.json").exists()
