"""Every read call of py-eureka-client (a real Eureka client from PyPI) against both registry
peers, in XML (the client's own way) and in JSON (through its HTTP-client hook), under both
prefixes; and its load-balanced `do_service` reaching one of our services by app name."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from py_eureka_client import eureka_basic
from tests.support import py_eureka_peer
from tests.support.factories import (
    discovery_client,
    free_port,
    instance,
    registry_auth,
    registry_credential,
    topology,
)
from tests.support.servers import RunningService, registry_peers, wait_for

from reelcloud.platform.eureka import InstanceInfo, InstanceStatus, json_codec
from reelcloud.registry.api import SERVER

pytestmark = pytest.mark.asyncio(loop_scope="module")
ROOT = Path(__file__).resolve().parents[2]
PREFIXES = ("/eureka/", "/eureka/v2/")
HELLO_ANSWER = {"hello": "from reelcloud", "instance": "host:hello:1"}


def catalog_1() -> InstanceInfo:
    """UP, two VIPs, its own secure VIP, secure port on, extra metadata; registered at peer a."""
    i = instance("CATALOG", 1, port=9101, zone="z1")
    i.vip_address = "catalog,catalog-all"
    i.secure_vip_address = "catalog-secure"
    i.secure_port, i.secure_port_enabled = 9443, True
    i.metadata["build"] = "42"
    return i


def catalog_2() -> InstanceInfo:
    """Put OUT_OF_SERVICE by an override at peer b, where it registered."""
    return instance("CATALOG", 2, port=9102, zone="z2")


@dataclass
class Expected:
    instance_id: str
    status: str
    overridden: str
    port: tuple[int, bool]
    secure_port: tuple[int, bool]
    vip: str
    secure_vip: str
    metadata: dict[str, str]


CATALOG_1 = Expected(
    "host:catalog:1", "UP", "UNKNOWN", (9101, True), (9443, True),
    "catalog,catalog-all", "catalog-secure", {"zone": "z1", "build": "42"},
)  # fmt: skip
CATALOG_2 = Expected(
    "host:catalog:2", "OUT_OF_SERVICE", "OUT_OF_SERVICE", (9102, True), (7002, False),
    "catalog", "catalog", {"zone": "z2"},
)  # fmt: skip


@dataclass
class World:
    peers: dict[str, RunningService]
    hello_port: int

    def hashcode(self, peer: str) -> str:
        return self.peers[peer].app[SERVER].registry.hashcode()


async def hello(request: web.Request) -> web.Response:
    return web.json_response(HELLO_ANSWER)


def _settled(peers: list[RunningService]) -> bool:
    for peer in peers:
        view = peer.app[SERVER].registry.applications()
        second = view.get("CATALOG", "host:catalog:2")
        if (
            view.get("CATALOG", "host:catalog:1") is None
            or second is None
            or second.status is not InstanceStatus.OUT_OF_SERVICE
            or not view.instances("HELLO")
        ):
            return False
    return True


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    """Two peers; CATALOG 1 registered at a, CATALOG 2 at b and put OUT_OF_SERVICE there, and a
    live HELLO service registered at b by our discovery client; both peers hold all of it."""
    topo = topology([free_port(), free_port()])
    async with registry_peers(topo, tmp_path_factory.mktemp("eureka-read")) as (a, b):
        app = web.Application()
        app.router.add_get("/hello", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        hello_port = free_port()
        await web.TCPSite(runner, "127.0.0.1", hello_port).start()
        hello_client = discovery_client([b.url + "/eureka/"], "hello", 1, port=hello_port)
        await hello_client.start()
        try:
            async with aiohttp.ClientSession() as http:
                for peer, prefix, registrant in ((a, "/eureka", catalog_1()), (b, "/eureka/v2", catalog_2())):  # fmt: skip
                    async with http.post(
                        f"{peer.url}{prefix}/apps/CATALOG",
                        data=json_codec.encode_instance(registrant),
                        headers={"Content-Type": "application/json", **registry_auth("catalog")},
                    ) as response:
                        assert response.status == 204, await response.text()
                async with http.put(
                    f"{b.url}/eureka/apps/CATALOG/host:catalog:2/status"
                    "?value=OUT_OF_SERVICE&lastDirtyTimestamp=1000",
                    headers=registry_auth("catalog"),
                ) as response:
                    assert response.status == 200, await response.text()
            await wait_for(lambda: _settled([a, b]), timeout_s=10)
            yield World({"a": a, "b": b}, hello_port)
        finally:
            await hello_client.aclose()
            await runner.cleanup()


def reader_url(url: str) -> str:
    """A registry URL with a reader's credential (any service may read), as the client takes it."""
    user = "py-reader"
    return py_eureka_peer.with_credentials(
        url, user, registry_credential(user)["registry_password"]
    )


@dataclass
class Reader:
    """py-eureka-client's read functions pointed at one peer, in one format, under one prefix."""

    peer: str
    fmt: str
    base: str
    recorder: py_eureka_peer.RecordingHttpClient

    def reply(self, root: str) -> py_eureka_peer.Fetch:
        """The last registry reply: 200, in the format asked for, gzipped, with this root."""
        fetch = self.recorder.fetches[-1]
        assert fetch.status == 200, fetch
        assert fetch.content_type.startswith(f"application/{self.fmt}"), fetch
        assert fetch.content_encoding == "gzip", fetch  # the client sends Accept-Encoding: gzip
        assert fetch.root == root, fetch
        return fetch


MATRIX = [(peer, fmt, prefix) for peer in ("a", "b") for fmt in ("xml", "json") for prefix in PREFIXES]  # fmt: skip


@pytest.fixture(params=MATRIX, ids=[f"{p}-{f}-{x.strip('/')}" for p, f, x in MATRIX])
def reader(request, world):
    peer, fmt, prefix = request.param
    base = reader_url(world.peers[peer].url + prefix)
    yield Reader(peer, fmt, base, py_eureka_peer.use_format(fmt, base))
    py_eureka_peer.restore()


def raw_instances(document: Any) -> dict[str, dict[str, Any]]:
    """Instance objects of a JSON reply by id (JSON mode), for fields the client does not read."""
    found: dict[str, dict[str, Any]] = {}
    if isinstance(document, dict):
        if "instanceId" in document:
            found[document["instanceId"]] = document
        for value in document.values():
            found.update(raw_instances(value))
    elif isinstance(document, list):
        for value in document:
            found.update(raw_instances(value))
    return found


def check_instance(got: eureka_basic.Instance, want: Expected, fetch: py_eureka_peer.Fetch) -> None:
    assert got.instanceId == want.instance_id
    assert got.app == "CATALOG"
    assert (got.hostName, got.ipAddr) == ("127.0.0.1", "127.0.0.1")
    assert got.status == want.status
    if fetch.document is None:
        assert got.overriddenstatus == want.overridden
    else:
        # Eureka's JSON spells it overriddenStatus, which py-eureka-client (XML only) never reads.
        assert (
            raw_instances(fetch.document)[want.instance_id]["overriddenStatus"] == want.overridden
        )
    assert (got.port.port, got.port.enabled) == want.port
    assert (got.securePort.port, got.securePort.enabled) == want.secure_port
    assert (got.vipAddress, got.secureVipAddress) == (want.vip, want.secure_vip)
    assert got.metadata == want.metadata
    assert got.countryId == 1
    assert got.dataCenterInfo.name == "MyOwn"
    assert got.dataCenterInfo.className == "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"
    assert (got.leaseInfo.renewalIntervalInSecs, got.leaseInfo.durationInSecs) == (30, 90)
    assert got.leaseInfo.registrationTimestamp > 0
    assert got.lastDirtyTimestamp == 1000
    assert got.lastUpdatedTimestamp > 0


def check_catalog(instances: list[eureka_basic.Instance], fetch: py_eureka_peer.Fetch) -> None:
    by_id = {i.instanceId: i for i in instances}
    assert set(by_id) == {"host:catalog:1", "host:catalog:2"}
    check_instance(by_id["host:catalog:1"], CATALOG_1, fetch)
    check_instance(by_id["host:catalog:2"], CATALOG_2, fetch)


async def get_instance(base: str, instance_id: str) -> eureka_basic.Instance:
    result = await eureka_basic.get_instance(base, instance_id)
    # 0.13.3's get_instance forgets an await and returns the coroutine that does the fetch.
    return await result if asyncio.iscoroutine(result) else result


def ids(apps: eureka_basic.Applications) -> dict[str, set[str]]:
    return {app.name: {i.instanceId for i in app.instances} for app in apps.applications}


async def test_get_applications(reader, world):
    apps = await eureka_basic.get_applications(reader.base)
    fetch = reader.reply("applications")
    assert apps.apps__hashcode == world.hashcode(reader.peer)
    assert "OUT_OF_SERVICE_1_" in apps.apps__hashcode
    assert {"CATALOG", "HELLO", "REGISTRY"} <= set(ids(apps))
    check_catalog(apps.get_application("CATALOG").instances, fetch)
    (live,) = apps.get_application("HELLO").instances
    assert (live.instanceId, live.status, live.port.port) == (
        "host:hello:1",
        "UP",
        world.hello_port,
    )
    assert live.vipAddress == "hello"


async def test_get_delta(reader, world):
    delta = await eureka_basic.get_delta(reader.base)
    fetch = reader.reply("applications")
    assert delta.versions__delta.isdigit()
    # The client recomputes this after merging and full-fetches on a mismatch.
    assert delta.apps__hashcode == world.hashcode(reader.peer)
    changed = {i.instanceId: i for app in delta.applications for i in app.instances}
    assert changed["host:catalog:1"].actionType == "ADDED"
    assert changed["host:catalog:2"].actionType == "MODIFIED"  # the override
    check_instance(changed["host:catalog:2"], CATALOG_2, fetch)


async def test_get_application(reader, world):
    # The registry upper-cases the name, as Eureka's ApplicationResource does.
    for name in ("CATALOG", "catalog"):
        app = await eureka_basic.get_application(reader.base, name)
        fetch = reader.reply("application")
        assert app is not None, "the client found no <application> root"
        assert app.name == "CATALOG"
        check_catalog(app.instances, fetch)


async def test_get_vip(reader, world):
    both = await eureka_basic.get_vip(reader.base, "catalog")
    check_catalog(both.get_application("CATALOG").instances, reader.reply("applications"))
    # The hashcode of what the VIP holds, not of the registry (getApplicationsForVip).
    assert both.apps__hashcode == "OUT_OF_SERVICE_1_UP_1_"
    second_vip = await eureka_basic.get_vip(reader.base, "catalog-all")  # one of a list
    reader.reply("applications")
    assert ids(second_vip) == {"CATALOG": {"host:catalog:1"}}
    assert second_vip.apps__hashcode == "UP_1_"
    nobody = await eureka_basic.get_vip(reader.base, "nobody")
    reader.reply("applications")
    assert (nobody.applications, nobody.apps__hashcode) == ([], "")


async def test_get_secure_vip(reader, world):
    secure = await eureka_basic.get_secure_vip(reader.base, "catalog-secure")
    fetch = reader.reply("applications")
    assert ids(secure) == {"CATALOG": {"host:catalog:1"}}
    assert secure.apps__hashcode == "UP_1_"
    check_instance(secure.get_application("CATALOG").instances[0], CATALOG_1, fetch)
    plain = await eureka_basic.get_secure_vip(reader.base, "catalog")
    reader.reply("applications")
    assert ids(plain) == {"CATALOG": {"host:catalog:2"}}


async def test_get_app_instance_and_get_instance(reader, world):
    by_app = await eureka_basic.get_app_instance(reader.base, "CATALOG", "host:catalog:2")
    check_instance(by_app, CATALOG_2, reader.reply("instance"))
    by_id = await get_instance(reader.base, "host:catalog:1")
    check_instance(by_id, CATALOG_1, reader.reply("instance"))


@pytest.mark.parametrize(
    "read",
    [
        lambda base: eureka_basic.get_application(base, "NOPE"),
        lambda base: eureka_basic.get_app_instance(base, "CATALOG", "nobody"),
        lambda base: eureka_basic.get_app_instance(base, "NOPE", "host:catalog:1"),
        lambda base: get_instance(base, "nobody"),
    ],
    ids=["application", "app-instance", "instance-of-other-app", "instance"],
)
async def test_unknown_names_are_404_to_the_client(reader, read):
    with pytest.raises(HTTPError) as caught:
        await read(reader.base)
    assert caught.value.code == 404
    assert reader.recorder.fetches[-1].status == 404


DO_SERVICE = [("a", "xml", "/eureka/"), ("a", "json", "/eureka/v2/"), ("b", "xml", "/eureka/v2/"), ("b", "json", "/eureka/")]  # fmt: skip


@pytest.mark.parametrize(
    ("peer", "fmt", "prefix"), DO_SERVICE, ids=[f"{p}-{f}" for p, f, _ in DO_SERVICE]
)
async def test_do_service_reaches_our_service_by_app_name(world, peer, fmt, prefix):  # fmt: skip
    base = reader_url(world.peers[peer].url + prefix)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.py_eureka_peer", "call", base, fmt, "hello", "/hello",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    assert report["answer"] == HELLO_ANSWER
    # It found HELLO in the registry it pulled from this peer, in this format.
    (pull,) = [f for f in report["fetches"] if f["url"].endswith(prefix + "apps/")]
    assert pull["status"] == 200
    assert pull["content_type"].startswith(f"application/{fmt}")
    assert pull["content_encoding"] == "gzip"
    assert pull["root"] == "applications"
