"""Listed means playable, on a real platform: cache control, one steering, the catalog and five
OCAs with real PostgreSQL, NATS and S3. A title on the origin that no OCA holds is listed as
coming soon and steering answers no OCA; once an OCA holds every file a play needs it is listed
available and steering names that OCA; an OCA that goes stale takes its titles back to coming
soon unless another OCA holds them."""

import asyncio
import hashlib
import os
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

import aiohttp
import orjson
import pytest
import pytest_asyncio
from tests.support.cli import reelcloud
from tests.support.factories import free_port, openconnect_dict
from tests.support.platform import oca_processes, running_platform
from tests.support.processes import hang, resume
from tests.support.waiting import wait_for

from reelcloud.platform.assets import AssetManifest, manifest_key
from reelcloud.platform.rpc import RpcClient
from reelcloud.platform.storage import ASSETS_BUCKET
from reelcloud.rpc import catalog_pb2, catalog_pb2_grpc, steering_pb2, steering_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPORT_INTERVAL_S = 0.5
EMBEDDED = ["oca-a-1", "oca-a-2", "oca-b-1", "oca-b-2"]
ISP_A_CLIENT = "127.10.0.5"
# Two rungs and audio (what a play needs), plus DASH segments and artwork (what it does not).
PLAYED = ["hls_0.m3u8", "init-0.m4s", "enc-seg-0-00001.m4s", "enc-seg-0-00002.m4s",
          "hls_1.m3u8", "init-1.m4s", "enc-seg-1-00001.m4s", "enc-seg-1-00002.m4s",
          "hls_2.m3u8", "init-2.m4s", "enc-seg-2-00001.m4s"]  # fmt: skip
NOT_PLAYED = ["chunk-0-00001.m4s", "manifest.mpd", "artwork.jpg"]


def title_files(segment_bytes: int) -> dict[str, bytes]:
    return {
        name: os.urandom(segment_bytes if "seg" in name or "chunk" in name else 500)
        for name in PLAYED + NOT_PLAYED
    }


# Small enough for the embedded OCAs, and one only the IXP's storage OCA has room for.
SMALL = title_files(40_000)  # ~0.3 MB
LARGE = title_files(250_000)  # ~1.8 MB


def rendition_manifest(title_id: str, files: dict[str, bytes], popularity: float) -> dict:
    rung = {"codecs": "avc1.42c01e", "peak_bps": 1, "average_bps": 1, "video_kbps": 1}
    return {
        "title_id": title_id,
        "metadata": {"title": title_id, "popularity": popularity, "genres": ["drama"]},
        "duration_s": 8.0,
        # Thirty days old: not a new release, so no OCA fills it before its window (or --now).
        "encoded_at": time.time() - 30 * 86400,
        "rungs": [
            {
                **rung,
                "name": f"{h}p",
                "representation_id": str(i),
                "width": h * 16 // 9,
                "height": h,
                "playlist": f"media_{i}.m3u8",
                "hls_playlist": f"hls_{i}.m3u8",
            }
            for i, h in enumerate((180, 360))
        ],
        "audio": {"playlist": "media_2.m3u8", "hls_playlist": "hls_2.m3u8"},
        "artwork": {"name": "artwork.jpg", "width": 480, "height": 270, "at_s": 2.0},
        "files": [
            {"name": n, "content_id": hashlib.sha256(d).hexdigest(), "size": len(d)}
            for n, d in files.items()
        ],
    }


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    now = datetime.now()
    # Every fill window is closed for the whole test: only `reelcloud fill --now` fills.
    closed = [str((now + timedelta(hours=h)).time().replace(second=0, microsecond=0))
              for h in (3, 4)]  # fmt: skip
    openconnect = openconnect_dict(port=free_port(), report_interval_s=REPORT_INTERVAL_S)
    for oca in openconnect["ocas"]:
        oca["fill_window"] = closed
        if oca["id"] in EMBEDDED:
            oca["capacity_bytes"] = 1_500_000
    services = [
        {
            "name": "cache-control",
            "options": {"catalog_refresh_s": 0.3, "escalation_s": 2, "offer_delay_s": 0.5},
        },
        {"name": "catalog", "options": {"sweep_interval_s": 0.2, "availability_poll_s": 0.3}},
        {"name": "steering", "instances": 1, "layer": 2, "options": {"state_poll_s": 0.2}},
    ]
    with running_platform(
        tmp_path_factory.mktemp("availability"),
        services,
        engines=("postgres", "nats", "seaweedfs"),
        openconnect=openconnect,
    ) as platform:
        yield platform


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def published(platform):
    origin = await platform.origin()
    await origin.ensure_bucket(ASSETS_BUCKET)
    manifests = {}
    for title_id, files, popularity in (("t-small", SMALL, 90), ("t-large", LARGE, 10)):
        for name, data in files.items():
            await origin.put(ASSETS_BUCKET, f"titles/{title_id}/{name}", data)
        manifest = rendition_manifest(title_id, files, popularity)
        await origin.put(ASSETS_BUCKET, manifest_key(title_id), orjson.dumps(manifest))
        manifests[title_id] = AssetManifest.model_validate(manifest)
    await origin.aclose()
    return manifests


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rpc(platform):
    discovery = await platform.discovery("steering", "catalog")
    steering = RpcClient(discovery, "steering", steering_pb2_grpc.SteeringStub)
    catalog = RpcClient(discovery, "catalog", catalog_pb2_grpc.CatalogStub)
    yield steering, catalog
    await steering.aclose()
    await catalog.aclose()
    await discovery.aclose()


async def get_json(url: str):
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        assert reply.status == 200, await reply.text()
        return await reply.json()


async def listing(platform) -> dict[str, str]:
    """Title id -> availability, as members browse the catalog."""
    answer = await get_json(f"http://{platform.address_of('catalog')}/api/catalog/titles")
    return {t["id"]: t["availability"] for t in answer["titles"]}


async def cache_control_view(platform) -> dict[str, dict]:
    answer = await get_json(f"http://{platform.address_of('cache-control')}/v1/availability")
    return {t["title_id"]: t for t in answer["titles"]}


async def steered(steering, manifest: AssetManifest) -> list[str]:
    request = steering_pb2.SteerRequest(
        client_address=ISP_A_CLIENT,
        title_id=manifest.title_id,
        content_ids=sorted(manifest.playable_content_ids()),
    )
    reply = await steering.call("Steer", request, timeout_s=2)
    return [c.oca_id for c in reply.candidates]


@contextmanager
def stopped(platform, oca_id):
    """The OCA hung (SIGSTOP): no reports, no answers, until the block ends."""
    pids = oca_processes(platform.data_dir, oca_id)
    assert pids, f"no process serves {oca_id}"
    for pid in pids:
        hang(pid)
    try:
        yield
    finally:
        for pid in pids:
            resume(pid)


async def test_a_title_no_oca_holds_is_coming_soon_and_steered_nowhere(platform, published, rpc):
    steering, catalog = rpc

    async def both_listed():
        listed = await listing(platform)
        return {"t-small", "t-large"} <= set(listed) and listed

    listed = await wait_for(both_listed, what="both titles listed by the catalog", timeout_s=30)
    assert listed == {"t-small": "coming_soon", "t-large": "coming_soon"}

    async def known_to_cache_control():
        view = await cache_control_view(platform)
        return len(view) == 2 and view

    known = await wait_for(
        known_to_cache_control, what="cache control knows both titles", timeout_s=30
    )
    assert {(t, v["playable"], tuple(v["ocas"])) for t, v in known.items()} == {
        ("t-small", False, ()),
        ("t-large", False, ()),
    }
    for manifest in published.values():
        assert await steered(steering, manifest) == []  # an empty answer, not an error
    one = await get_json(f"http://{platform.address_of('catalog')}/api/catalog/titles/t-small")
    assert one["availability"] == "coming_soon"
    title = await catalog.call(
        "GetTitle", catalog_pb2.GetTitleRequest(title_id="t-small"), timeout_s=2
    )
    assert title.availability == "coming_soon"


async def test_once_filled_it_is_available_and_steering_names_the_ocas_holding_it(
    platform, published, rpc
):
    steering, catalog = rpc
    result = await asyncio.to_thread(
        reelcloud, "fill", "--now", "--wait", "60", "--data-dir", str(platform.data_dir)
    )
    assert result.returncode == 0, result.stdout + result.stderr

    async def available(title_id):
        return (await listing(platform)).get(title_id) == "available"

    for title_id in ("t-small", "t-large"):
        await wait_for(
            lambda title_id=title_id: available(title_id),
            what=f"{title_id} listed as available after the fill",
            timeout_s=20,
        )
    view = await cache_control_view(platform)
    assert sorted(view["t-large"]["ocas"]) == ["oca-ixp-1"]  # too big for the edge
    assert sorted(view["t-small"]["ocas"]) == sorted(["oca-ixp-1", *EMBEDDED])
    assert all(v["playable"] and v["since"] > 0 for v in view.values())
    assert await steered(steering, published["t-large"]) == ["oca-ixp-1"]
    small = await steered(steering, published["t-small"])
    assert sorted(small[:2]) == ["oca-a-1", "oca-a-2"]  # the client's ISP first
    assert small[2:] == ["oca-ixp-1"]
    title = await catalog.call(
        "GetTitle", catalog_pb2.GetTitleRequest(title_id="t-large"), timeout_s=2
    )
    assert title.availability == "available"
    # The listing's artwork comes from the manifest's artwork file.
    base = f"http://{platform.address_of('catalog')}/api/catalog/titles/t-large"
    assert (await get_json(base))["artwork_url"] == "/api/catalog/titles/t-large/artwork"
    async with aiohttp.ClientSession() as http, http.get(base + "/artwork") as reply:
        assert reply.status == 200
        assert await reply.read() == LARGE["artwork.jpg"]
        assert reply.headers["ETag"] == f'"{hashlib.sha256(LARGE["artwork.jpg"]).hexdigest()}"'


async def test_a_stale_oca_takes_back_only_the_titles_nobody_else_holds(platform, published, rpc):
    steering, _ = rpc

    async def availability_of(title_id):
        return (await listing(platform)).get(title_id)

    await wait_for(
        lambda: availability_of("t-large"),
        what="the earlier test left t-large available",
        timeout_s=20,
    )
    with stopped(platform, "oca-ixp-1"):
        await wait_for(
            lambda: _is(availability_of("t-large"), "coming_soon"),
            what="t-large coming soon once the only OCA holding it stopped reporting",
            timeout_s=20,
        )
        assert await availability_of("t-small") == "available"  # the edge holds it too
        assert await steered(steering, published["t-large"]) == []
        assert "oca-ixp-1" not in await steered(steering, published["t-small"])
        assert (await cache_control_view(platform))["t-large"]["ocas"] == []
    await wait_for(
        lambda: _is(availability_of("t-large"), "available"),
        what="t-large available again once its OCA reports again",
        timeout_s=20,
    )
    assert await steered(steering, published["t-large"]) == ["oca-ixp-1"]


async def _is(value, expected):
    return await value == expected
