"""The Eureka REST surface of one registry peer, spoken to over real HTTP."""

import gzip
import io
import xml.etree.ElementTree as ET

import orjson
import pytest
from tests.support.factories import instance, registry_auth

from reelcloud.platform.credentials import PEER_USER
from reelcloud.platform.eureka import InstanceStatus, json_codec, xml_codec

pytestmark = pytest.mark.asyncio

JSON = {"Accept": "application/json", "Content-Type": "application/json"}
# Reads take any service's credential; changes take the instance's own service's.
READER = registry_auth("gateway")
CATALOG = registry_auth("catalog")


async def register(http, base, inst, prefix="/eureka"):
    async with http.post(
        f"{base}{prefix}/apps/{inst.app}",
        data=json_codec.encode_instance(inst),
        headers={**JSON, **registry_auth(inst.app.lower())},
    ) as response:
        return response.status


async def apps_json(http, base, path="/eureka/apps"):
    async with http.get(base + path, headers={"Accept": "application/json", **READER}) as response:
        assert response.status == 200
        return json_codec.decode_applications(await response.read())


async def test_register_fetch_renew_cancel_under_both_prefixes(registry, http):
    base = registry.url
    assert await register(http, base, instance("CATALOG", 1)) == 204
    assert await register(http, base, instance("CATALOG", 2), prefix="/eureka/v2") == 204
    for path in ("/eureka/apps", "/eureka/v2/apps/"):
        apps = await apps_json(http, base, path)
        assert {i.instance_id for i in apps.instances("CATALOG")} == {
            "host:catalog:1",
            "host:catalog:2",
        }
    for path in ("/eureka/apps/CATALOG", "/eureka/v2/apps/catalog"):
        async with http.get(base + path, headers={"Accept": "application/json", **READER}) as r:
            assert r.status == 200
            app = json_codec.decode_application(await r.read())
        assert app.name == "CATALOG"
        assert set(app.instances) == {"host:catalog:1", "host:catalog:2"}
    async with http.put(
        f"{base}/eureka/apps/CATALOG/host:catalog:1?status=UP&lastDirtyTimestamp=1000",
        headers=CATALOG,
    ) as response:
        assert response.status == 200
    async with http.delete(f"{base}/eureka/v2/apps/CATALOG/host:catalog:1", headers=CATALOG) as r:
        assert r.status == 200
    async with http.put(f"{base}/eureka/apps/CATALOG/host:catalog:1", headers=CATALOG) as response:
        assert response.status == 404  # unknown now: a client would register again
    apps = await apps_json(http, base)
    assert [i.instance_id for i in apps.instances("CATALOG")] == ["host:catalog:2"]


async def test_xml_is_the_default_and_json_when_accepted(registry, http):
    await register(http, registry.url, instance("CATALOG", 1))
    async with http.get(registry.url + "/eureka/apps", headers=READER) as response:
        assert response.headers["Content-Type"].startswith("application/xml")
        apps = xml_codec.decode_applications(await response.read())
    assert apps.get("CATALOG", "host:catalog:1") is not None
    async with http.get(
        registry.url + "/eureka/apps/CATALOG/host:catalog:1",
        headers={"Accept": "application/json", **READER},
    ) as response:
        assert orjson.loads(await response.read())["instance"]["app"] == "CATALOG"
    async with http.get(registry.url + "/eureka/instances/host:catalog:1", headers=READER) as r:
        assert xml_codec.decode_instance(await r.read()).app == "CATALOG"


async def test_gzip_when_accepted(registry, http):
    await register(http, registry.url, instance("CATALOG", 1))
    async with http.get(
        registry.url + "/eureka/apps",
        headers={"Accept": "application/json", "Accept-Encoding": "gzip", **READER},
        auto_decompress=False,
    ) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(await response.read())
    assert json_codec.decode_applications(body).get("CATALOG", "host:catalog:1") is not None


READS = [  # path, status, document root
    ("apps", 200, "applications"),
    ("apps/", 200, "applications"),
    ("apps/delta", 200, "applications"),
    ("apps/CATALOG", 200, "application"),
    ("apps/catalog", 200, "application"),
    ("apps/CATALOG/host:catalog:1", 200, "instance"),
    ("instances/host:catalog:1", 200, "instance"),
    ("vips/catalog", 200, "applications"),
    ("svips/catalog", 200, "applications"),
    ("vips/nobody", 200, "applications"),  # an empty document, not a 404 (AbstractVIPResource)
    ("apps/NOPE", 404, None),
    ("apps/CATALOG/nobody", 404, None),
    ("instances/nobody", 404, None),
]


ACCEPTS = [  # Accept header, the format Eureka answers with
    (None, "application/xml"),
    ("*/*", "application/xml"),
    ("application/xml", "application/xml"),
    ("application/json", "application/json"),
]


async def _read_problem(http, url, status, root, accept, want, gzipped):
    """What is wrong with one read, or None."""
    headers = {"Accept-Encoding": "gzip" if gzipped else "identity", **READER}
    if accept:
        headers["Accept"] = accept
    async with http.get(url, headers=headers, auto_decompress=False) as response:
        body = await response.read()
        if response.status != status:
            return f"status {response.status}, expected {status}"
        if root is None:
            return None
        encoding = response.headers.get("Content-Encoding", "")
        if encoding != ("gzip" if gzipped else ""):
            return f"Content-Encoding {encoding!r}"
        if response.content_type != want:
            return f"{response.content_type}, expected {want}"
    doc = gzip.decompress(body) if gzipped else body
    got = next(iter(orjson.loads(doc))) if want == "application/json" else ET.fromstring(doc).tag
    return None if got == root else f"root {got!r}, expected {root!r}"


async def test_every_read_negotiates_format_and_gzip_like_eureka(registry, http):
    await register(http, registry.url, instance("CATALOG", 1))
    wrong = []
    for prefix in ("/eureka/", "/eureka/v2/"):
        for path, status, root in READS:
            for accept, want in ACCEPTS:
                for gzipped in (False, True):
                    url = registry.url + prefix + path
                    problem = await _read_problem(http, url, status, root, accept, want, gzipped)
                    if problem:
                        wrong.append(f"{prefix}{path} Accept={accept} gzip={gzipped}: {problem}")
    assert not wrong, "\n".join(wrong)


async def test_delta_and_vip_lookups(registry, http):
    await register(http, registry.url, instance("CATALOG", 1))
    await register(http, registry.url, instance("PLAYBACK", 1))
    delta = await apps_json(http, registry.url, "/eureka/apps/delta")
    assert {"host:catalog:1", "host:playback:1"} <= {i.instance_id for i in delta}
    assert delta.apps_hashcode.startswith("UP_")
    vip = await apps_json(http, registry.url, "/eureka/vips/playback")
    assert [i.instance_id for i in vip] == ["host:playback:1"]
    svip = await apps_json(http, registry.url, "/eureka/svips/catalog")
    assert [i.instance_id for i in svip] == ["host:catalog:1"]


async def test_status_override_and_metadata(registry, http):
    base = registry.url + "/eureka/apps/CATALOG/host:catalog:1"
    await register(http, registry.url, instance("CATALOG", 1))
    async with http.put(
        base + "/status?value=OUT_OF_SERVICE&lastDirtyTimestamp=1000", headers=CATALOG
    ) as r:
        assert r.status == 200
    (held,) = (await apps_json(http, registry.url)).instances("CATALOG")
    assert held.status is InstanceStatus.OUT_OF_SERVICE
    async with http.delete(base + "/status?value=UP", headers=CATALOG) as r:
        assert r.status == 200
    async with http.put(base + "/metadata?weight=3&canary=true", headers=CATALOG) as r:
        assert r.status == 200
    (held,) = (await apps_json(http, registry.url)).instances("CATALOG")
    assert held.status is InstanceStatus.UP
    assert held.metadata["weight"] == "3"
    assert held.metadata["canary"] == "true"


async def test_registry_registers_itself_and_reports_status(registry, http):
    apps = await apps_json(http, registry.url)
    assert [i.instance_id for i in apps.instances("REGISTRY")] == ["test:registry:1"]
    async with http.get(registry.url + "/eureka/status", headers=READER) as response:
        status = await response.json()
    assert status["synced"] is True
    assert status["self_preservation_enabled"] is True
    assert status["instances"] == 1


BAD_REQUESTS = [
    ("POST", "/eureka/apps/CATALOG", b"{oops", JSON, 400, "malformed JSON"),
    ("POST", "/eureka/apps/CATALOG", b"<instance><x>", {}, 400, "malformed XML"),
    ("POST", "/eureka/apps/CATALOG", b"", JSON, 400, "empty body"),
    ("POST", "/eureka/apps/CATALOG", b'{"instance": {}}', JSON, 400, "Missing instanceId"),
    (
        "POST",
        "/eureka/apps/OTHER",
        json_codec.encode_instance(instance("CATALOG", 1)),
        JSON,
        400,
        "Mismatched appName",
    ),
    ("POST", "/eureka/apps/CATALOG", b"x" * (1024 * 1024 + 1), JSON, 413, "larger than"),
    ("GET", "/eureka/apps/NOPE", None, {}, 404, "not registered"),
    ("GET", "/eureka/apps/NOPE/nobody", None, {}, 404, "not registered"),
    ("GET", "/eureka/instances/nobody", None, {}, 404, "not registered"),
    ("DELETE", "/eureka/apps/NOPE/nobody", None, {}, 404, "not registered"),
    ("PUT", "/eureka/apps/NOPE/nobody/status?value=UP", None, {}, 404, "not registered"),
    ("PUT", "/eureka/apps/NOPE/nobody/status?value=SIDEWAYS", None, {}, 400, "value must be"),
    ("PUT", "/eureka/apps/NOPE/nobody?lastDirtyTimestamp=yesterday", None, {}, 400, "milliseconds"),
    (
        "POST",
        "/eureka/peerreplication/batch",
        b'{"replicationList": 3}',
        JSON,
        400,
        "replicationList",
    ),
    ("PATCH", "/eureka/apps", None, {}, 405, "Not Allowed"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "message"), BAD_REQUESTS)
async def test_bad_input_gets_a_clear_4xx_and_the_registry_keeps_serving(
    registry, http, method, path, body, headers, status, message
):
    data = io.BytesIO(body) if body and len(body) > 1024 * 1024 else body
    # Each change carries its own app's credential (peer batches the peers'): what is wrong
    # is the input, not the caller.
    parts = path.split("?")[0].split("/")
    user = PEER_USER if "peerreplication" in path else parts[3].lower() if len(parts) > 3 else ""
    headers = {**headers, **registry_auth(user or "gateway")}
    async with http.request(method, registry.url + path, data=data, headers=headers) as response:
        assert response.status == status
        error = (await response.json())["error"]
        assert message in error["message"]
        assert error["code"]
    async with http.get(registry.url + "/eureka/apps", headers=READER) as response:
        assert response.status == 200


async def test_replication_batch_reports_per_item_status(registry, http):
    body = {
        "replicationList": [
            {
                "action": "Register",
                "appName": "CATALOG",
                "id": "host:catalog:1",
                "instanceInfo": json_codec.instance_to_dict(instance("CATALOG", 1)),
            },
            {"action": "Heartbeat", "appName": "CATALOG", "id": "host:catalog:9"},
            {"action": "Teleport", "appName": "CATALOG", "id": "x"},
        ]
    }
    async with http.post(
        registry.url + "/eureka/peerreplication/batch",
        data=orjson.dumps(body),
        headers={**JSON, **registry_auth(PEER_USER)},
    ) as response:
        statuses = [r["statusCode"] for r in (await response.json())["responseList"]]
    assert statuses == [200, 404, 400]
