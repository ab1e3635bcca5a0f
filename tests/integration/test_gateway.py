"""The gateway in front of real origin processes registered in a real registry."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
import yaml
from tests.support.cli import ECHO_SERVICE, ROOT
from tests.support.factories import (
    TEST_SESSION_SECRET,
    free_port,
    registry_credential,
    registry_env,
    topology_dict,
    write_topology,
)
from tests.support.servers import RunningService, registry_peers, wait_for

from reelcloud.platform import session_tokens as tokens
from reelcloud.platform.settings import Settings
from reelcloud.platform.topology import Topology

pytestmark = pytest.mark.asyncio

ROUTES = {
    "routes": [
        {"prefix": "/healthcheck", "endpoint": "health", "auth": "none"},
        {"prefix": "/echo-api", "origin": "echo", "strip_prefix": True},
        {"prefix": "/secure", "origin": "echo", "strip_prefix": True, "auth": "required"},
        {"prefix": "/ghost", "origin": "ghost"},
        {"prefix": "/", "endpoint": "static", "auth": "none"},
    ]
}


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.registry_port = free_port()
        self.routes = tmp_path / "routes.yaml"
        self.routes.write_text(yaml.safe_dump(ROUTES))
        self.web = tmp_path / "web"
        (self.web / "assets").mkdir(parents=True)
        (self.web / "index.html").write_text("<h1>reelcloud</h1>")
        (self.web / "assets" / "app.js").write_text("console.log('hi')")
        (tmp_path / "secret.txt").write_text("not for you")
        self.origins: dict[int, asyncio.subprocess.Process] = {}  # by instance number
        self.gateways: list[RunningService] = []

    def topology(self, **options):
        gateway = {
            "name": "gateway",
            "entrypoint": "reelcloud.gateway.app:create_app",
            "options": {
                "listen_port": free_port(),
                "routes_file": str(self.routes),
                "routes_poll_interval_s": 0.2,
                "web_dir": str(self.web),
                "read_timeout_ms": 600,
                **options,
            },
        }
        return topology_dict([self.registry_port], services=[ECHO_SERVICE, gateway])

    async def start_origin(self, number: int, topology_path: Path) -> asyncio.subprocess.Process:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REELCLOUD_TOPOLOGY_FILE": str(topology_path),
            "REELCLOUD_INSTANCE_ID": f"host:echo:{number}",
            "REELCLOUD_DATA_DIR": str(self.tmp),
            "REELCLOUD_ZONE": "z1",
            **registry_env("echo"),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reelcloud", "run", "echo", env=env, cwd=self.tmp,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.origins[number] = proc  # before waiting: the fixture stops it if it never comes up
        await wait_for((self.tmp / "run" / f"host:echo:{number}.json").exists)
        return proc

    async def start_gateway(self, **options) -> str:
        doc = self.topology(**options)
        settings = Settings(
            service="gateway", topology=Topology.model_validate(doc), data_dir=self.tmp,
            log_format="text", session_secret=TEST_SESSION_SECRET,
            **registry_credential("gateway"),
        )  # fmt: skip
        gateway = await RunningService(settings).start()
        self.gateways.append(gateway)
        port = doc["services"][1]["options"]["listen_port"]
        return f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture
async def world(tmp_path):
    world = World(tmp_path)
    doc = world.topology()
    topology_path = write_topology(tmp_path / "topology.yaml", doc)
    async with registry_peers(Topology.model_validate(doc), tmp_path):
        try:
            await asyncio.gather(
                world.start_origin(1, topology_path), world.start_origin(2, topology_path)
            )
            yield world
        finally:
            for gateway in world.gateways:
                await gateway.stop()
            for proc in world.origins.values():
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    await proc.wait()


async def ready(http, base, path="/echo-api/slow?s=0", count=2):
    """Wait until the gateway's discovery knows `count` origin instances."""

    async def seen():
        instances = set()
        for _ in range(6):
            async with http.get(base + path) as response:
                if response.status == 200:
                    instances.add(response.headers["x-reelcloud-instance"])
        return len(instances) >= count

    await wait_for(seen, timeout_s=10, interval_s=0.2)


async def test_routes_by_prefix_and_balances_round_robin(world, http):
    base = await world.start_gateway()
    await ready(http, base)
    served = []
    for _ in range(10):
        async with http.get(base + "/echo-api/slow?s=0") as response:
            assert response.status == 200
            assert (await response.json()) == {"slept_s": 0.0}
            assert response.headers["x-reelcloud-outcome"] == "SUCCESS"
            assert len(response.headers["x-request-id"]) == 32
            served.append(response.headers["x-reelcloud-instance"])
    assert served.count("host:echo:1") == served.count("host:echo:2") == 5
    async with http.get(base + "/healthcheck") as response:
        assert (await response.json()) == {"status": "healthy"}


async def test_a_killed_instance_is_invisible_to_clients(world, http):
    base = await world.start_gateway()
    await ready(http, base)
    world.origins[1].send_signal(signal.SIGKILL)  # no deregistration: the registry still has it
    await world.origins[1].wait()
    for _ in range(10):
        async with http.get(base + "/echo-api/slow?s=0") as response:
            assert response.status == 200
            assert response.headers["x-reelcloud-instance"] == "host:echo:2"
        async with http.post(base + "/echo-api/echo", data=b"x") as response:
            assert response.status == 200  # a refused connection is safe to retry, any method


async def test_read_timeouts_retry_only_idempotent_requests(world, http):
    base = await world.start_gateway(read_timeout_ms=300)
    await ready(http, base)
    async with http.get(base + "/echo-api/slow?s=2") as response:
        assert response.status == 504
        assert response.headers["x-reelcloud-outcome"] == "FAILURE_ORIGIN_READ_TIMEOUT"
        assert response.headers["x-reelcloud-proxy-attempts"] == "2"  # retried elsewhere
        error = (await response.json())["error"]
        assert error["code"] == "origin_timeout"
        assert error["request_id"] == response.headers["x-request-id"]
    async with http.post(base + "/echo-api/slow?s=2") as response:
        assert response.status == 504
        assert response.headers["x-reelcloud-proxy-attempts"] == "1"  # never retried


async def test_origin_concurrency_cap_names_the_outcome(world, http):
    base = await world.start_gateway(origin_max_concurrency=2)
    await ready(http, base)
    responses = await asyncio.gather(*(http.get(base + "/echo-api/slow?s=0.5") for _ in range(6)))
    statuses = sorted(r.status for r in responses)
    assert statuses.count(200) == 2
    assert statuses.count(503) == 4
    capped = next(r for r in responses if r.status == 503)
    assert capped.headers["x-reelcloud-outcome"] == "FAILURE_LOCAL_THROTTLED_ORIGIN_CONCURRENCY"
    assert (await capped.json())["error"]["code"] == "origin_concurrency"
    for r in responses:
        r.close()


async def test_no_instance_is_a_502_with_a_clear_message(world, http):
    base = await world.start_gateway()
    async with http.get(base + "/ghost/anything") as response:
        assert response.status == 502
        assert response.headers["x-reelcloud-outcome"] == "FAILURE_ORIGIN_NO_SERVERS"
        assert (await response.json())["error"]["message"] == "no instance of ghost is available"


async def test_routes_file_changes_apply_without_restart(world, http, caplog):
    base = await world.start_gateway()
    await ready(http, base)
    async with http.get(base + "/fresh/slow?s=0") as response:
        assert response.status == 404  # static: no such file
    routes = yaml.safe_load(world.routes.read_text())
    routes["routes"].insert(0, {"prefix": "/fresh", "origin": "echo", "strip_prefix": True})
    world.routes.write_text(yaml.safe_dump(routes))

    async def routed():
        async with http.get(base + "/fresh/slow?s=0") as response:
            return response.status == 200

    await wait_for(routed, what="the new route is served, without a restart")
    world.routes.write_text("routes: [this is: not valid")  # a broken edit keeps the old table
    await wait_for(
        lambda: any("keeping the previous routes" in r.getMessage() for r in caplog.records),
        what="the gateway reads the broken routes file",
    )
    assert await routed()


async def test_rate_limit_answers_429_with_retry_after(world, http):
    # One token a second: a slow machine sending these 20 requests refills few, if any.
    base = await world.start_gateway(rate_per_client_per_s=1, burst_per_client=5)
    statuses = []
    retry_after = None
    for _ in range(20):
        async with http.get(base + "/healthcheck") as response:
            statuses.append(response.status)
            if response.status == 429:
                retry_after = response.headers["retry-after"]
    assert statuses[:5] == [200] * 5
    assert statuses.count(429) >= 12, statuses
    assert retry_after == "1"


async def test_load_shedding_refuses_before_doing_work(world, http):
    base = await world.start_gateway(max_in_flight=2, origin_max_concurrency=100)
    await ready(http, base)
    responses = await asyncio.gather(*(http.get(base + "/echo-api/slow?s=0.5") for _ in range(8)))
    shed = [r for r in responses if r.status == 503]
    assert shed
    assert all(r.headers["x-reelcloud-outcome"] == "FAILURE_LOCAL_LOAD_SHED" for r in shed)
    assert all("x-reelcloud-instance" not in r.headers for r in shed)  # no origin was called
    assert sum(r.status == 200 for r in responses) >= 2
    for r in responses:
        r.close()


async def test_authentication_and_member_header(world, http):
    base = await world.start_gateway()
    await ready(http, base)
    async with http.get(base + "/secure/headers") as response:
        assert response.status == 401
        assert response.headers["x-reelcloud-outcome"] == "FAILURE_CLIENT_UNAUTHORIZED"
    for bad in (
        "garbage",
        tokens.issue("other-secret", "m1", session_id="s1"),
        tokens.issue(TEST_SESSION_SECRET, "m1", session_id="s1", ttl_s=-5),
    ):
        async with http.get(
            base + "/secure/headers", headers={"Authorization": f"Bearer {bad}"}
        ) as r:
            assert r.status == 401
    token = tokens.issue(TEST_SESSION_SECRET, "member-42", session_id="s-42")
    forged = {"Authorization": f"Bearer {token}", "X-Reelcloud-Member": "someone-else"}
    async with http.get(base + "/secure/headers", headers=forged) as response:
        assert response.status == 200
        seen = await response.json()
    assert seen["x-reelcloud-member"] == "member-42"  # the client's own header was dropped
    assert seen["x-request-id"] == response.headers["x-request-id"]
    async with http.get(base + "/echo-api/headers", cookies={"session": token}) as response:
        assert (await response.json())["x-reelcloud-member"] == "member-42"


async def test_static_files_caching_and_cors(world, http):
    base = await world.start_gateway()
    async with http.get(base + "/") as response:
        assert response.status == 200
        assert await response.text() == "<h1>reelcloud</h1>"
        assert response.headers["cache-control"] == "no-cache"
        etag = response.headers["etag"]
    async with http.get(base + "/", headers={"If-None-Match": etag}) as response:
        assert response.status == 304
    async with http.get(
        base + "/assets/app.js", headers={"Origin": "http://127.0.0.1:8080"}
    ) as response:
        assert response.headers["cache-control"] == "public, max-age=3600"
        assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:8080"
        assert response.headers["x-content-type-options"] == "nosniff"
    preflight = {"Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST"}
    async with http.options(base + "/echo-api/echo", headers=preflight) as response:
        assert response.status == 204
        assert "POST" in response.headers["access-control-allow-methods"]
    async with http.get(base + "/", headers={"Origin": "http://evil.example"}) as response:
        assert "access-control-allow-origin" not in response.headers


async def raw(base: str, payload: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    return data


BAD_INPUT = [
    (b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", b"400", b"traversal"),
    (b"GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", b"400", b"traversal"),
    (b"GET /assets/%2e%2e/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", b"400", b"traversal"),
    (b"GET /index.html%00.js HTTP/1.1\r\nHost: x\r\n\r\n", b"400", b"malformed"),
    (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414", b"too long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n", b"431", b"too large"),
    (
        b"POST /echo-api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
        b"413",
        b"too large",
    ),
    (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", b"405", b"not supported"),
    (b"GARBAGE\r\n\r\n", b"400", b"malformed"),
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"400",
        b"upgrade",
    ),
]


@pytest.mark.parametrize(("payload", "status", "message"), BAD_INPUT)
async def test_bad_input_gets_a_clear_4xx_and_no_5xx(world, http, payload, status, message):
    base = await world.start_gateway()
    answer = await raw(base, payload)
    assert answer.split(b" ")[1] == status, answer[:200]
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert message in orjson.loads(body)["error"]["message"].encode()
    async with http.get(base + "/healthcheck") as response:
        assert response.status == 200  # still serving
    metrics_url = world.gateways[-1].url + "/metrics"
    async with http.get(metrics_url) as response:
        text = await response.text()
    assert 'status="5' not in text
