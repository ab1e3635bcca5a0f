"""The registry's HTTP basic auth, against a real registry peer: who may change and read what."""

import orjson
import pytest
from pydantic import SecretStr
from tests.support.factories import instance, registry_auth, topology
from tests.support.servers import RunningService, registry_settings

from reelcloud.platform.credentials import PEER_USER, basic_authorization
from reelcloud.platform.errors import ConfigurationError
from reelcloud.platform.eureka import InstanceStatus, json_codec
from reelcloud.registry.api import SERVER
from reelcloud.registry.replication import REPLICATION_HEADER

pytestmark = pytest.mark.asyncio

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
PLAY_API = registry_auth("play-api")
NO_CREDENTIAL: dict[str, str] = {}
WRONG_PASSWORD = {"Authorization": basic_authorization("play-api", "guessed")}
NOT_BASIC = {"Authorization": "Bearer play-api"}
INSTANCE = "/eureka/apps/PLAY-API/host:play-api:1"


def changes(inst):
    """Every change a client can make to one instance: method, path, body."""
    base = f"/eureka/apps/{inst.app}/{inst.instance_id}"
    return [
        ("POST", f"/eureka/apps/{inst.app}", json_codec.encode_instance(inst)),
        ("PUT", f"{base}?status=UP&lastDirtyTimestamp={inst.last_dirty_ts}", None),
        ("PUT", f"{base}?overriddenstatus=OUT_OF_SERVICE", None),
        ("PUT", f"{base}/status?value=OUT_OF_SERVICE", None),
        ("DELETE", f"{base}/status?value=UP", None),
        ("PUT", f"{base}/metadata?weight=0", None),
        ("DELETE", base, None),
        ("PUT", f"/eureka/v2/apps/{inst.app}/{inst.instance_id}/status?value=DOWN", None),
        ("DELETE", f"/eureka/v2/apps/{inst.app}/{inst.instance_id}", None),
    ]


async def register(http, base, inst, headers):
    async with http.post(
        f"{base}/eureka/apps/{inst.app}",
        data=json_codec.encode_instance(inst),
        headers={**JSON, **headers},
    ) as reply:
        return reply.status


def snapshot(registry):
    """What a change would touch: every instance's status, overridden status and metadata."""
    return {
        i.instance_id: (i.status, i.overridden_status, dict(i.metadata), i.last_dirty_ts)
        for i in registry.app[SERVER].registry.applications()
    }


async def test_changes_without_a_valid_credential_are_401_and_change_nothing(registry, http):
    target = instance("PLAY-API", 1)
    assert await register(http, registry.url, target, PLAY_API) == 204
    before = snapshot(registry)
    refused = []
    for headers in (NO_CREDENTIAL, WRONG_PASSWORD, NOT_BASIC):
        for method, path, body in changes(target):
            async with http.request(
                method, registry.url + path, data=body, headers={**JSON, **headers}
            ) as reply:
                error = (await reply.json())["error"]
                refused.append((reply.status, reply.headers.get("WWW-Authenticate"), error["code"]))
    assert set(refused) == {(401, 'Basic realm="reelcloud"', "unauthenticated")}
    assert snapshot(registry) == before


async def test_another_services_credential_is_403_and_changes_nothing(registry, http):
    target = instance("PLAY-API", 1)
    assert await register(http, registry.url, target, PLAY_API) == 204
    before = snapshot(registry)
    playback = registry_auth("playback")
    statuses = []
    for method, path, body in changes(target):
        async with http.request(
            method, registry.url + path, data=body, headers={**JSON, **playback}
        ) as reply:
            statuses.append((path, reply.status, (await reply.json())["error"]["code"]))
    assert {(s, c) for _, s, c in statuses} == {(403, "forbidden")}, statuses
    assert snapshot(registry) == before


async def test_a_rogue_accounts_registration_with_play_api_credentials_is_refused(registry, http):
    rogue = instance("ACCOUNTS", 666)
    assert await register(http, registry.url, rogue, PLAY_API) == 403
    # The body naming another app than the path does not help either.
    async with http.post(
        registry.url + "/eureka/apps/PLAY-API",
        data=json_codec.encode_instance(rogue),
        headers={**JSON, **PLAY_API},
    ) as reply:
        assert reply.status == 400
    assert registry.app[SERVER].registry.applications().instances("ACCOUNTS") == []


async def test_each_service_changes_its_own_instances_app_name_in_any_case(registry, http):
    lower = instance("play-api", 2)
    assert await register(http, registry.url, lower, PLAY_API) == 204
    for path in (f"{INSTANCE.lower()}", INSTANCE.replace("PLAY-API", "Play-Api")):
        async with http.put(
            registry.url + path.replace(":1", ":2") + "/metadata?weight=2", headers=PLAY_API
        ) as reply:
            assert reply.status == 200
    held = registry.app[SERVER].registry.instance("PLAY-API", "host:play-api:2")
    assert held.metadata["weight"] == "2"


async def test_replication_is_for_peers_only(registry, http):
    target = instance("PLAY-API", 1)
    replicated = {**JSON, REPLICATION_HEADER: "true"}
    # Its own credential does not let a service pass its change off as a peer's.
    assert await register(http, registry.url, target, {**replicated, **PLAY_API}) == 403
    batch = {
        "replicationList": [
            {
                "action": "Register",
                "appName": "ACCOUNTS",
                "id": "rogue:accounts:1",
                "instanceInfo": json_codec.instance_to_dict(instance("ACCOUNTS", 1)),
            }
        ]
    }
    for headers, status in (
        (NO_CREDENTIAL, 401),
        (PLAY_API, 403),
        (registry_auth("registry"), 403),
    ):
        async with http.post(
            registry.url + "/eureka/peerreplication/batch",
            data=orjson.dumps(batch),
            headers={**JSON, **headers},
        ) as reply:
            assert reply.status == status
    assert registry.app[SERVER].registry.applications().instances("ACCOUNTS") == []

    peer = registry_auth(PEER_USER)
    assert await register(http, registry.url, target, {**replicated, **peer}) == 204
    async with http.post(
        registry.url + "/eureka/peerreplication/batch",
        data=orjson.dumps(batch),
        headers={**JSON, **peer},
    ) as reply:
        assert [r["statusCode"] for r in (await reply.json())["responseList"]] == [200]
    async with http.put(
        f"{registry.url}{INSTANCE}/status?value=OUT_OF_SERVICE", headers={**replicated, **peer}
    ) as reply:
        assert reply.status == 200
    held = registry.app[SERVER].registry.instance("PLAY-API", "host:play-api:1")
    assert held.status is InstanceStatus.OUT_OF_SERVICE


READS = [
    "/eureka/apps",
    "/eureka/apps/delta",
    "/eureka/apps/PLAY-API",
    "/eureka/apps/PLAY-API/host:play-api:1",
    "/eureka/instances/host:play-api:1",
    "/eureka/vips/play-api",
    "/eureka/svips/play-api",
    "/eureka/status",
    "/eureka/v2/apps",
]


async def test_reads_take_any_valid_credential_and_health_stays_open(registry, http):
    assert await register(http, registry.url, instance("PLAY-API", 1), PLAY_API) == 204
    for path in READS:
        for headers in (registry_auth("gateway"), registry_auth("oca"), registry_auth(PEER_USER)):
            async with http.get(registry.url + path, headers=headers) as reply:
                assert reply.status == 200, (path, headers)
        for headers in (NO_CREDENTIAL, WRONG_PASSWORD):
            async with http.get(registry.url + path, headers=headers) as reply:
                assert reply.status == 401, path
                assert reply.headers["WWW-Authenticate"] == 'Basic realm="reelcloud"'
    for path in ("/healthz", "/readyz", "/metrics"):
        async with http.get(registry.url + path) as reply:
            assert reply.status == 200, path


async def test_the_registry_refuses_to_start_without_a_secret(tmp_path):
    settings = registry_settings(topology([1]), 0, tmp_path).model_copy(
        update={"registry_secret": SecretStr("")}
    )
    with pytest.raises(ConfigurationError, match="REELCLOUD_REGISTRY_SECRET"):
        RunningService(settings)
