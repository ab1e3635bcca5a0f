"""The catalog with real PostgreSQL, NATS and S3: titles from the origin sweep and from
`title.encoded` events, licensing windows, browse through the gateway."""

import asyncio
import os
from datetime import date, timedelta

import aiohttp
import pytest
import pytest_asyncio
from tests.integration.test_storage import ready_store
from tests.support.cli import reelcloud, wait_status
from tests.support.openconnect import publish
from tests.support.platform import all_up, running_platform
from tests.support.waiting import wait_for

from reelcloud.encoding.pipeline import manifest_key
from reelcloud.platform.errors import NotFoundError, UnavailableError
from reelcloud.platform.events import EventProducer
from reelcloud.platform.events.titles import TitleEncoded
from reelcloud.platform.rpc import RpcClient
from reelcloud.rpc import catalog_pb2, catalog_pb2_grpc

pytestmark = pytest.mark.asyncio

TODAY = date.today()
FILES = {"seg_0.m4s": os.urandom(1000)}


def window(country, start_days, end_days):
    return {
        "country": country,
        "start": (TODAY + timedelta(days=start_days)).isoformat(),
        "end": (TODAY + timedelta(days=end_days)).isoformat(),
    }


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    # No catalog runs yet: the fixture starts it once the origin holds a title it never heard
    # of. With the event stream up, a catalog sweeps every 10 x sweep_interval_s: a day here,
    # so the only sweep is the one at start, and a title that appears later came by its event.
    services = [
        {"name": "catalog", "instances": 0, "options": {"sweep_interval_s": 8640}},
        {"name": "gateway", "layer": 2},
    ]
    with running_platform(
        tmp_path_factory.mktemp("catalog"), services, engines=("postgres", "nats", "seaweedfs")
    ) as platform:
        yield platform


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def catalog(platform):
    env = platform.env()
    origin = await ready_store(
        env["REELCLOUD_S3_URL"], env["REELCLOUD_S3_ACCESS_KEY"], env["REELCLOUD_S3_SECRET_KEY"]
    )
    try:
        # One title is on the origin before any catalog runs (the catalog finds it by
        # sweeping at start) ...
        await publish(
            origin, "t-swept", FILES, popularity=50, maturity="PG-13", genres=["drama"],
            year=2020,
            licenses=[window("US", -10, 10), window("GB", -30, -1), window("FR", 5, 50)],
        )  # fmt: skip
        result = await asyncio.to_thread(
            reelcloud, "scale", "catalog", "1", "--data-dir", str(platform.data_dir)
        )
        assert result.returncode == 0, result.stderr
        await asyncio.to_thread(wait_status, platform.data_dir, all_up, 60)
        discovery = await platform.discovery("catalog")
        client = RpcClient(discovery, "catalog", catalog_pb2_grpc.CatalogStub)
        try:

            async def listed():
                reply = await client.call(
                    "ListTitles", catalog_pb2.ListTitlesRequest(), timeout_s=2
                )
                return sorted(t.id for t in reply.titles)

            await wait_for(
                listed,
                what="the catalog's start-up sweep lists t-swept",
                ignoring=(UnavailableError,),
            )
            # The sweep's listing of the origin is behind us: what comes next is not in it.
            assert await listed() == ["t-swept"]
            # ... the other arrives with its event, as ingest announces it.
            await publish(
                origin, "t-evented", FILES, popularity=80, maturity="G",
                genres=["comedy", "family"], licenses=[window("US", -1, 1), window("BR", -1, 1)],
            )  # fmt: skip
            await announce(platform, "t-evented")

            async def both_listed():
                return await listed() == ["t-evented", "t-swept"]

            await wait_for(both_listed, what="the title.encoded event brings t-evented")
            yield client
        finally:
            await client.aclose()
            await discovery.aclose()
    finally:
        await origin.aclose()


async def announce(platform, title_id):
    producer = EventProducer(
        platform.env()["REELCLOUD_NATS_URL"],
        producer_id="test-ingest",
        spool_dir=platform.data_dir / "spool-test",
    )
    await producer.start()
    try:
        producer.publish(
            TitleEncoded(
                title_id=title_id,
                title=title_id,
                manifest_key=manifest_key(title_id),
                rungs=[],
                duration_s=12.0,
            )
        )
    finally:
        await producer.aclose(drain_timeout_s=5)
    assert producer.stats["published"] == 1, producer.stats


@pytest.mark.asyncio(loop_scope="module")
async def test_titles_arrive_by_sweep_and_by_event_with_their_manifests(catalog):
    title = await catalog.call(
        "GetTitle", catalog_pb2.GetTitleRequest(title_id="t-evented"), timeout_s=2
    )
    assert (title.name, title.maturity, list(title.genres)) == (
        "t-evented",
        "G",
        ["comedy", "family"],
    )
    assert '"content_id"' in title.manifest_json
    swept = await catalog.call(
        "GetTitle", catalog_pb2.GetTitleRequest(title_id="t-swept"), timeout_s=2
    )
    assert swept.year == 2020
    assert {(w.country, w.active) for w in swept.licenses} == {
        ("US", True),
        ("GB", False),
        ("FR", False),
    }
    with pytest.raises(NotFoundError):
        await catalog.call(
            "GetTitle", catalog_pb2.GetTitleRequest(title_id="t-nothing"), timeout_s=2
        )


@pytest.mark.asyncio(loop_scope="module")
async def test_licensing_windows_by_country_and_date(catalog):
    async def active(title_id, country):
        license_ = await catalog.call(
            "GetLicense",
            catalog_pb2.GetLicenseRequest(title_id=title_id, country=country),
            timeout_s=2,
        )
        return license_.active

    assert await active("t-swept", "US")
    assert await active("t-swept", "us")  # country codes in any case
    assert not await active("t-swept", "GB")  # the window ended yesterday
    assert not await active("t-swept", "FR")  # starts in five days
    assert not await active("t-swept", "BR")  # never licensed there
    assert await active("t-evented", "BR")
    listed = await catalog.call(
        "ListTitles", catalog_pb2.ListTitlesRequest(country="GB"), timeout_s=2
    )
    assert list(listed.titles) == []
    listed = await catalog.call(
        "ListTitles", catalog_pb2.ListTitlesRequest(country="US"), timeout_s=2
    )
    assert [t.id for t in listed.titles] == ["t-evented", "t-swept"]  # most popular first
    assert listed.titles[0].manifest_json == ""


@pytest.mark.asyncio(loop_scope="module")
async def test_browse_through_the_gateway(platform, catalog):
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{platform.gateway}/api/catalog/titles", params={"genre": "drama"}
        ) as reply:
            body = await reply.json()
            assert [t["id"] for t in body["titles"]] == ["t-swept"]
            assert body["titles"][0]["available_in"] == ["US"]
        async with http.get(
            f"{platform.gateway}/api/catalog/titles", params={"q": "EVENT"}
        ) as reply:
            assert [t["id"] for t in (await reply.json())["titles"]] == ["t-evented"]
        async with http.get(f"{platform.gateway}/api/catalog/titles", params={"q": "%"}) as reply:
            assert (await reply.json())["titles"] == []  # a wildcard is matched literally
        async with http.get(f"{platform.gateway}/api/catalog/titles/t-swept") as reply:
            assert (await reply.json())["maturity"] == "PG-13"
        async with http.get(f"{platform.gateway}/api/catalog/titles/t-nothing") as reply:
            assert reply.status == 404
        async with http.get(
            f"{platform.gateway}/api/catalog/titles", params={"q": "x" * 500}
        ) as reply:
            assert reply.status == 400
