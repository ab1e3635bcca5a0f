"""Open Connect as the launcher runs it: five OCAs, cache control and steering, filling from a
real S3 origin and steering real clients, with test timings (reports every 0.5 s)."""

import asyncio
import os
import time
from datetime import datetime, timedelta

import aiohttp
import orjson
import pytest
import pytest_asyncio
from tests.integration.test_storage import ready_store
from tests.support.cli import reelcloud, status, wait_gone, wait_status
from tests.support.factories import (
    discovery_client,
    free_port,
    openconnect_dict,
    topology_dict,
    write_topology,
)
from tests.support.openconnect import publish
from tests.support.processes import hang, resume
from tests.support.waiting import wait_for

from reelcloud.launcher.datadir import DataDir
from reelcloud.launcher.secrets import load_secrets
from reelcloud.launcher.up import engine_env
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.oca_auth import signed_headers
from reelcloud.platform.rpc import RpcClient
from reelcloud.rpc import steering_pb2, steering_pb2_grpc

pytestmark = pytest.mark.asyncio

REPORT_INTERVAL_S = 0.5
EMBEDDED = ["oca-a-1", "oca-a-2", "oca-b-1", "oca-b-2"]
HOT = {f"seg_{i}.m4s": os.urandom(150_000) for i in range(4)}  # 600 kB, fits at the edge
BIG = {f"seg_{i}.m4s": os.urandom(300_000) for i in range(4)}  # 1.2 MB, only at the IXP
OLD = {"seg_0.m4s": os.urandom(100_000)}


def all_up(current):
    return current["phase"] == "running" and all(
        i["status"] == "UP" and i["process"] == "running" for i in current["instances"]
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openconnect")
    now = datetime.now()
    # Embedded OCAs' fill window is closed for the whole test; the IXP's is always open.
    closed = ((now + timedelta(hours=3)).time().replace(second=0, microsecond=0),
              (now + timedelta(hours=4)).time().replace(second=0, microsecond=0))  # fmt: skip
    openconnect = openconnect_dict(port=free_port(), report_interval_s=REPORT_INTERVAL_S)
    for oca in openconnect["ocas"]:
        if oca["id"] in EMBEDDED:
            oca.update(capacity_bytes=1_500_000, fill_window=[str(t) for t in closed])
        else:
            oca.update(fill_window=["00:00", "00:00"])
    doc = topology_dict(
        [free_port()],
        services=[
            {
                "name": "cache-control",
                "entrypoint": "reelcloud.services.cachecontrol.api:create_app",
                "options": {"catalog_refresh_s": 0.3, "escalation_s": 5},
            },
            {
                "name": "steering",
                "entrypoint": "reelcloud.services.steering.api:create_app",
                "layer": 2,
                "options": {"state_poll_s": 0.2, "manifest_ttl_s": 1},
            },
        ],
    )
    doc["engines"]["seaweedfs"] = {"enabled": True}
    doc["openconnect"] = openconnect
    topology = write_topology(tmp / "topology.yaml", doc)
    data_dir = tmp / "data"
    result = reelcloud("up", "--detach", "--topology", str(topology), "--data-dir", str(data_dir))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        wait_status(data_dir, all_up)
        yield data_dir
    finally:
        reelcloud("down", "--data-dir", str(data_dir))
        assert wait_gone(str(data_dir)) == []


def address_of(data_dir, service):
    return next(i["address"] for i in status(data_dir)["instances"] if i["service"] == service)


async def ocas_summary(data_dir):
    url = f"http://{address_of(data_dir, 'cache-control')}/v1/ocas"
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        return {o["id"]: o for o in (await reply.json())["ocas"]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def published(platform):
    env = engine_env(DataDir.at(platform))
    origin = await ready_store(
        env["REELCLOUD_S3_URL"], env["REELCLOUD_S3_ACCESS_KEY"], env["REELCLOUD_S3_SECRET_KEY"]
    )
    manifests = {
        "hot": await publish(origin, "t-hot", HOT, popularity=90),
        "big": await publish(origin, "t-big", BIG, popularity=10),
        "old": await publish(origin, "t-old", OLD, popularity=5, age_s=30 * 86400),
    }
    await origin.aclose()
    return manifests


@pytest_asyncio.fixture(loop_scope="module")
async def steering(platform):
    registry = status(platform)["registry"]["peers"][0]["url"]
    discovery = discovery_client(
        [registry], "oc-test", 1, fetch=True, registry_secret=load_secrets(platform).registry_secret
    )
    await discovery.start()
    client = RpcClient(discovery, "steering", steering_pb2_grpc.SteeringStub)
    try:
        await wait_for(lambda: discovery.instances("steering"), what="the registry lists steering")
        yield client
    finally:
        await client.aclose()
        await discovery.aclose()


async def steer(client, address, manifest):
    request = steering_pb2.SteerRequest(
        client_address=address,
        title_id=manifest["title_id"],
        content_ids=[f["content_id"] for f in manifest["files"]],
    )
    return await client.call("Steer", request, timeout_s=2)


def fill_log(data_dir, oca_id):
    path = data_dir / "oca" / oca_id / "fill.log"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


@pytest.mark.asyncio(loop_scope="module")
async def test_fill_from_empty_goes_origin_then_tier_then_peer(platform, published):
    async def hot_everywhere():
        summary = await ocas_summary(platform)
        # The storage OCA takes the whole catalog (hot and big at least; old maybe not yet).
        ixp_full = summary["oca-ixp-1"]["titles_held"] >= 2
        return ixp_full and all(o["titles_held"] >= 1 for o in summary.values()) and summary

    summary = await wait_for(
        hot_everywhere, what="every OCA holds t-hot and the IXP t-big too", interval_s=0.2
    )
    ixp = [e for e in fill_log(platform, "oca-ixp-1") if e["title_id"] == "t-hot"]
    assert {(e["source_kind"], e["outcome"]) for e in ixp} == {("origin", "ok")}
    for site in (["oca-a-1", "oca-a-2"], ["oca-b-1", "oca-b-2"]):
        kinds = {}
        for oca_id in site:
            entries = [e for e in fill_log(platform, oca_id) if e["title_id"] == "t-hot"]
            assert len(entries) == len(HOT)
            kinds[oca_id] = {(e["source_kind"], e["source"]) for e in entries}
        master = next(o for o, k in kinds.items() if k == {("tier", "oca-ixp-1")})
        follower = next(o for o in site if o != master)
        assert kinds[follower] == {("peer", master)}
        fill = summary[follower]["fill"]
        assert fill["bytes_by_source"] == {"peer": sum(len(d) for d in HOT.values())}


@pytest.mark.asyncio(loop_scope="module")
async def test_steering_prefers_the_clients_isp_and_only_ocas_holding_the_files(
    platform, published, steering
):
    async def ranked(address, manifest):
        reply = await steer(steering, address, manifest)
        return [(c.oca_id, c.reason) for c in reply.candidates], reply

    async def hot_at_edge():
        got, _ = await ranked("127.10.0.5", published["hot"])
        return len(got) == 3 and got

    async def hot_at_edge_b():
        got, _ = await ranked("127.20.9.9", published["hot"])
        return len(got) == 3 and got

    async def big_anywhere():  # the IXP holds it; nothing else ever will
        got, _ = await ranked("127.10.0.5", published["big"])
        return got

    isp_a = await wait_for(hot_at_edge, what="ISP A's OCAs hold t-hot", interval_s=0.2)
    assert sorted(isp_a[:2]) == [("oca-a-1", "embedded"), ("oca-a-2", "embedded")]
    assert isp_a[2] == ("oca-ixp-1", "ixp")
    isp_b = await wait_for(hot_at_edge_b, what="ISP B's OCAs hold t-hot", interval_s=0.2)
    assert sorted(isp_b[:2]) == [("oca-b-1", "embedded"), ("oca-b-2", "embedded")]
    elsewhere, _ = await ranked("127.99.0.1", published["hot"])
    assert elsewhere == [("oca-ixp-1", "ixp")]
    # The big title does not fit on the embedded OCAs: never steered there.
    big = await wait_for(big_anywhere, what="the IXP holds t-big", interval_s=0.2)
    assert big == [("oca-ixp-1", "ixp")]

    # The URLs work from the client's network, and from nowhere else.
    _, reply = await ranked("127.10.0.5", published["hot"])
    first = reply.candidates[0].base_url + "seg_2.m4s"
    connector = aiohttp.TCPConnector(local_addr=("127.10.0.5", 0))
    async with aiohttp.ClientSession(connector=connector) as http, http.get(first) as got:
        assert got.status == 200
        assert await got.read() == HOT["seg_2.m4s"]
    connector = aiohttp.TCPConnector(local_addr=("127.20.0.5", 0))
    async with aiohttp.ClientSession(connector=connector) as http, http.get(first) as got:
        assert got.status == 403

    # The steering manifest lists the same pathways, in the same order (while all are healthy:
    # on a loaded machine a report can be late, so allow a few polls for that).
    url = f"http://{address_of(platform, 'steering')}{reply.steering_path}"
    pathways = [c.oca_id for c in reply.candidates]
    async with aiohttp.ClientSession() as http:

        async def manifests():
            async with http.get(url) as got:
                hls = await got.json()
            async with http.get(url + "&f=dash") as got:
                dash = await got.json()
            same = hls["PATHWAY-PRIORITY"] == dash["SERVICE-LOCATION-PRIORITY"] == pathways
            return same and hls

        hls = await wait_for(
            manifests, what="both manifests list the Steer answer's pathways", interval_s=0.2
        )
        async with http.get(url[:-3] + "xyz") as got:  # a forged session
            assert got.status == 403
    assert hls["TTL"] == 1
    assert hls["RELOAD-URI"].startswith("/steering/v1/manifest?s=")


@pytest.mark.asyncio(loop_scope="module")
async def test_an_oca_that_stops_reporting_leaves_steering(platform, published, steering):
    # After how many missed reports is cache control's rule, unit-tested on a fake clock
    # (tests/unit/services/cachecontrol); here: that the platform acts on it.
    async def a1_steered():
        reply = await steer(steering, "127.10.0.5", published["hot"])
        return "oca-a-1" in [c.oca_id for c in reply.candidates] and reply

    reply = await wait_for(a1_steered, what="oca-a-1 is steered to", interval_s=0.2)
    url = f"http://{address_of(platform, 'steering')}{reply.steering_path}"
    pid = next(i["pid"] for i in status(platform)["instances"] if i["id"].endswith(":oca:1"))
    hang(pid)  # hung: no reports, no answers
    try:

        async def a1_gone():
            return not await a1_steered()

        await wait_for(a1_gone, what="steering leaves out the silent oca-a-1")
        async with aiohttp.ClientSession() as http, http.get(url) as got:
            assert "oca-a-1" not in (await got.json())["PATHWAY-PRIORITY"]
    finally:
        resume(pid)
    await wait_for(a1_steered, what="oca-a-1 is steered to again once it reports", interval_s=0.2)


@pytest.mark.asyncio(loop_scope="module")
async def test_an_old_title_waits_for_the_window_and_fill_now_brings_it(platform, published):
    async def old_planned_at_the_edge():
        summary = await ocas_summary(platform)
        return summary["oca-ixp-1"]["titles_held"] == 3 and all(  # hot, big, old
            summary[oca_id]["titles_planned"] == 2
            for oca_id in EMBEDDED  # hot, old
        )

    # Once the plan gives t-old to the embedded OCAs, only their closed window keeps it off.
    await wait_for(
        old_planned_at_the_edge,
        what="the IXP holds t-old and the embedded OCAs' plans include it",
        interval_s=0.2,
    )
    for oca_id in EMBEDDED:
        assert not [e for e in fill_log(platform, oca_id) if e["title_id"] == "t-old"]
        assert (await ocas_summary(platform))[oca_id]["titles_held"] == 1
    result = await asyncio.to_thread(
        reelcloud, "fill", "--now", "--wait", "30", "--data-dir", str(platform)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for oca_id in EMBEDDED:
        assert {e["title_id"] for e in fill_log(platform, oca_id)} >= {"t-old"}
    assert "oca-a-1" in result.stdout
    refused = await asyncio.to_thread(reelcloud, "fill", "--data-dir", str(platform))
    assert refused.returncode != 0
    assert "--now" in refused.stderr


@pytest.mark.asyncio(loop_scope="module")
async def test_bad_input_to_cache_control_and_steering_is_refused_clearly(
    platform, published, steering
):
    base = f"http://{address_of(platform, 'cache-control')}"
    secret = openconnect_dict()["report_secret"]
    health = {
        "active_connections": 0,
        "bytes_per_s": 0,
        "requests_per_s": 0,
        "error_rate": 0,
        "disk_used": 0,
        "disk_free": 0,
    }
    body = orjson.dumps({"seq": 0, "health": health, "prefixes": [], "full": []})
    forged = signed_headers("not-the-secret-at-all", "oca-a-1", "POST", "/v1/reports", body)
    stale = signed_headers(secret, "oca-a-1", "POST", "/v1/reports", body)
    stale["X-OCA-Timestamp"] = str(time.time() - 3600)  # replayed an hour later
    malformed = b'{"seq": -1, "full": ["../../etc/passwd"]}'
    cases = [
        ({}, body, 403),  # unsigned
        (forged, body, 403),
        (stale, body, 403),
        (signed_headers(secret, "oca-a-1", "POST", "/v1/reports", b"{"), b"{", 400),
        (signed_headers(secret, "oca-a-1", "POST", "/v1/reports", malformed), malformed, 400),
        (signed_headers(secret, "oca-nobody", "POST", "/v1/reports", body), body, 404),
    ]
    async with aiohttp.ClientSession() as http:
        for headers, data, expected in cases:
            async with http.post(f"{base}/v1/reports", data=data, headers=headers) as reply:
                assert reply.status == expected, (headers, data)
                assert (await reply.json())["error"]["message"]
        async with http.get(f"{base}/v1/fill-manifest") as reply:
            assert reply.status == 403
        manifest_url = f"http://{address_of(platform, 'steering')}/steering/v1/manifest"
        for query, expected in (("", 400), ("?s=abc.def", 403), ("?s=x&f=smooth", 400)):
            async with http.get(manifest_url + query) as reply:
                assert reply.status == expected, query
    # The OCA whose name was used keeps its state: no forged "holds nothing" got through.
    victim = (await ocas_summary(platform))["oca-a-1"]
    assert victim["healthy"]
    assert victim["titles_held"] >= 1

    hot = published["hot"]
    bad_requests = [
        steering_pb2.SteerRequest(client_address="127.10.0.5", title_id="../etc"),
        steering_pb2.SteerRequest(client_address="not-an-ip", title_id=hot["title_id"]),
        steering_pb2.SteerRequest(
            client_address="127.10.0.5", network_address="999.1.1.1", title_id=hot["title_id"]
        ),
        steering_pb2.SteerRequest(
            client_address="127.10.0.5", title_id=hot["title_id"], content_ids=["x"] * 10_001
        ),
    ]
    for request in bad_requests:
        with pytest.raises(BadRequestError):
            await steering.call("Steer", request, timeout_s=2)
