"""Plays counted by the stream jobs steer the fill plan, on a real platform: cache control, five
OCAs, the registry and S3, and a small stand-in for the jobs service (registered as `jobs`,
answering GET /jobs/popularity with counts this test writes). Cache control finds it in the
registry, reads its counts, and its next plan puts the counted rendition of the watched title
on the embedded OCAs; when the stand-in fails, the plan keeps the last counts and the status
says since when."""

import hashlib
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from tests.support.factories import free_port, openconnect_dict
from tests.support.platform import running_platform
from tests.support.waiting import wait_for

from reelcloud.platform.app import create_service_app
from reelcloud.platform.assets import manifest_key
from reelcloud.platform.oca_auth import signed_headers
from reelcloud.platform.settings import Settings
from reelcloud.platform.storage import ASSETS_BUCKET

pytestmark = pytest.mark.asyncio(loop_scope="module")

STAND_IN = "tests.integration.test_cachecontrol_demand:stand_in_jobs"
COUNTS_FILE = "popularity.json"  # in the platform's data directory: what the stand-in serves
EMBEDDED = ["oca-a-1", "oca-a-2", "oca-b-1", "oca-b-2"]
RUNG_180P = {"hls_0.m3u8", "init-0.m4s", "enc-seg-0-00001.m4s", "enc-seg-0-00002.m4s"}
RUNG_360P = {"hls_1.m3u8", "init-1.m4s", "enc-seg-1-00001.m4s", "enc-seg-1-00002.m4s"}
BASE = {"hls_2.m3u8", "init-2.m4s", "enc-seg-2-00001.m4s", "chunk-0-00001.m4s", "artwork.jpg"}
# Each title: its two rungs (2 segments each), the audio, a DASH chunk and the artwork. With
# 100 kB segments t-watched is ~600 kB, each rung ~200 kB, its base ~200 kB; t-seeded, with
# 20 kB segments, ~125 kB. The embedded OCAs (530 kB, 503 kB planned) fit t-seeded whole and
# not t-watched, but t-watched's base and one rung, and a rung of t-seeded beside them.
EMBEDDED_CAPACITY = 530_000


# ---- the stand-in (run by the launcher as the `jobs` service) --------------------------------


def stand_in_jobs(settings: Settings) -> web.Application:
    """GET /jobs/popularity answering what the test wrote: counts (a JSON body), `fail` (a
    503), or nothing yet (no counts, as the jobs answer before they counted a play)."""
    app = create_service_app(settings)
    counts_file = settings.data_dir / COUNTS_FILE

    async def popularity(request: web.Request) -> web.Response:
        written = counts_file.read_bytes() if counts_file.exists() else b""
        if written == b"fail":
            return web.json_response({"error": {"code": "jobs_unavailable"}}, status=503)
        body = orjson.loads(written) if written else {"days": [], "counts": []}
        return web.json_response(body)

    app.router.add_get("/jobs/popularity", popularity)
    return app


def serve(data_dir: Path, body: bytes) -> None:
    """What the stand-in answers from now on (written whole, then renamed into place)."""
    partial = data_dir / f"{COUNTS_FILE}.partial"
    partial.write_bytes(body)
    partial.replace(data_dir / COUNTS_FILE)


# ---- the platform --------------------------------------------------------------------------


def title_files(segment_bytes: int) -> dict[str, bytes]:
    names = sorted(RUNG_180P | RUNG_360P | BASE)
    return {n: os.urandom(segment_bytes if "seg" in n or "chunk" in n else 500) for n in names}


def rendition_manifest(title_id: str, files: dict[str, bytes], popularity: float) -> dict:
    rung = {"codecs": "avc1.42c01e", "peak_bps": 1, "average_bps": 1, "video_kbps": 1}
    return {
        "title_id": title_id,
        "metadata": {"title": title_id, "popularity": popularity, "genres": ["drama"]},
        "duration_s": 8.0,
        "encoded_at": time.time() - 30 * 86400,  # not a new release: placed by its plays
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
def openconnect():
    now = datetime.now()
    # Every fill window is closed for the whole test: the OCAs report, but fill nothing.
    closed = [str((now + timedelta(hours=h)).time().replace(second=0, microsecond=0))
              for h in (3, 4)]  # fmt: skip
    doc = openconnect_dict(port=free_port(), report_interval_s=0.5)
    for oca in doc["ocas"]:
        oca["fill_window"] = closed
        if oca["id"] in EMBEDDED:
            oca["capacity_bytes"] = EMBEDDED_CAPACITY
    return doc


@pytest.fixture(scope="module")
def platform(tmp_path_factory, openconnect):
    fast = {"demand_poll_s": 0.3, "demand_retry_s": 0.3, "placement_unit": "rendition"}
    services = [
        {"name": "cache-control", "options": {"catalog_refresh_s": 0.3, **fast}},
        {"name": "jobs", "entrypoint": STAND_IN, "database": False},
    ]
    with running_platform(
        tmp_path_factory.mktemp("demand"),
        services,
        engines=("seaweedfs",),
        openconnect=openconnect,
    ) as platform:
        yield platform


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def published(platform):
    origin = await platform.origin()
    await origin.ensure_bucket(ASSETS_BUCKET)
    for title_id, segment_bytes, popularity in (
        ("t-seeded", 20_000, 90),
        ("t-watched", 100_000, 10),
    ):
        files = title_files(segment_bytes)
        for name, data in files.items():
            await origin.put(ASSETS_BUCKET, f"titles/{title_id}/{name}", data)
        manifest = rendition_manifest(title_id, files, popularity)
        await origin.put(ASSETS_BUCKET, manifest_key(title_id), orjson.dumps(manifest))
    await origin.aclose()


async def fill_plan(platform, openconnect, oca_id: str) -> dict[str, set[str]]:
    """The OCA's fill manifest, as the OCA reads it: per title, most wanted first, its files."""
    path = "/v1/fill-manifest"
    headers = signed_headers(openconnect["report_secret"], oca_id, "GET", path)
    url = f"http://{platform.address_of('cache-control')}{path}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as reply:
        assert reply.status == 200, await reply.text()
        manifest = await reply.json()
    return {t["title_id"]: {f["name"] for f in t["files"]} for t in manifest["titles"]}


async def demand_status(platform) -> dict | None:
    url = f"http://{platform.address_of('cache-control')}/v1/ocas"
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        assert reply.status == 200, await reply.text()
        return (await reply.json())["demand"]


async def test_counted_plays_put_the_watched_rendition_on_the_embedded_ocas(
    platform, openconnect, published
):
    whole = RUNG_180P | RUNG_360P | BASE

    async def both_planned_and_the_jobs_read():
        plan = await fill_plan(platform, openconnect, "oca-ixp-1")
        return len(plan) == 2 and await demand_status(platform)

    status = await wait_for(
        both_planned_and_the_jobs_read, what="both titles planned, the stand-in read once"
    )
    # Nothing counted yet (the stand-in answers no counts): whole titles by seeded popularity.
    assert (status["source"], status["plays"]) == ("jobs", 0)
    assert await fill_plan(platform, openconnect, "oca-a-1") == {"t-seeded": whole}

    serve(
        platform.data_dir,
        orjson.dumps(
            {"days": [2, 1], "counts": [{"title_id": "t-watched", "height": 360, "plays": 50}]}
        ),
    )

    async def watched_first():
        plan = await fill_plan(platform, openconnect, "oca-a-1")
        return next(iter(plan), None) == "t-watched" and plan

    plan = await wait_for(watched_first, what="oca-a-1 plans t-watched first", timeout_s=20)
    # Its counted rung with the base, not its 180p; beside it a rung of t-seeded, no longer all.
    assert plan == {"t-watched": BASE | RUNG_360P, "t-seeded": BASE | RUNG_360P}
    for oca_id in EMBEDDED:
        assert await fill_plan(platform, openconnect, oca_id) == plan
    ixp = await fill_plan(platform, openconnect, "oca-ixp-1")
    assert ixp == {"t-watched": whole, "t-seeded": whole}  # the whole catalog
    status = await demand_status(platform)
    assert status is not None
    assert (status["source"], status["titles"], status["renditions"], status["plays"]) == (
        "jobs",
        1,
        1,
        50,
    )
    assert status["days"] == [2, 1]
    assert status["failing_since"] is None

    # The jobs service fails: the plan keeps following the last counts, and says since when.
    read_at = status["at"]
    serve(platform.data_dir, b"fail")

    async def failing():
        current = await demand_status(platform)
        return current is not None and current["failing_since"] is not None and current

    failed = await wait_for(failing, what="the status shows the jobs failing", timeout_s=20)
    assert failed["failing_since"] >= read_at
    assert failed["plays"] == 50
    assert await fill_plan(platform, openconnect, "oca-a-1") == plan
