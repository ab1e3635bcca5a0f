"""The shipped topology, detached, with a one-title demo catalog: a demo member in ISP A
signs in and plays from an ISP A OCA; a member whose country lacks the licence is refused."""

import asyncio

import aiohttp
import m3u8
import pytest
import pytest_asyncio
from tests.support.cli import wait_status
from tests.support.platform import shipped_platform
from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio


@pytest.fixture
def shipped(tmp_path):
    with shipped_platform(tmp_path, demo_titles=1, demo_seconds=4) as platform:
        yield platform.data_dir, platform.gateway


@pytest_asyncio.fixture
async def isp_a_home():
    """An HTTP client at home in ISP A; closed however the test ends."""
    connector = aiohttp.TCPConnector(local_addr=("127.10.0.9", 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http


@pytest.mark.timeout(300)
async def test_a_demo_member_plays_the_demo_title_from_their_isp(shipped, isp_a_home):
    data_dir, gateway = shipped
    http = isp_a_home
    seeded = await asyncio.to_thread(
        wait_status,
        data_dir,
        lambda s: any(
            j["name"] == "demo-seed" and j["process"] == "stopped" for j in s.get("jobs", [])
        ),
        180,
    )
    seed = next(j for j in seeded["jobs"] if j["name"] == "demo-seed")
    assert seed["exit_code"] == 0

    # Seeding ends when the title is on the origin and announced; the catalog lists it once
    # it has read the event.
    async def catalog_titles():
        async with http.get(f"{gateway}/api/catalog/titles") as reply:
            return reply.status == 200 and (await reply.json())["titles"]

    titles = await wait_for(
        catalog_titles, what="the catalog lists the seeded demo title", timeout_s=60
    )
    assert [t["name"] for t in titles] == ["Test Pattern Odyssey"]
    title_id = titles[0]["id"]

    async def signed_in(who):
        body = {"email": f"{who}@reelcloud.test", "password": "reelcloud"}
        async with http.post(f"{gateway}/api/accounts/login", json=body) as reply:
            assert reply.status == 200
            return {"Authorization": f"Bearer {(await reply.json())['token']}"}

    alice = await signed_in("alice")
    body = {"title_id": title_id, "profile_id": "p-alice", "device_id": "d-alice-browser"}
    last = []

    async def steered_to_isp_a():
        async with http.post(f"{gateway}/api/play", json=body, headers=alice) as reply:
            answer = await reply.json()
        last[:] = [answer]
        if reply.status != 200:
            return None
        if answer["ocas"][0]["oca_id"].startswith("oca-a-"):
            return answer
        async with http.post(gateway + answer["stop_url"], headers=alice):
            pass  # free the stream slot for the next try
        return None

    played = await wait_for(
        steered_to_isp_a,
        what=lambda: f"a play from ISP A is steered to an ISP A OCA (last answer: {last})",
        timeout_s=150,
        interval_s=0.5,
    )

    master = m3u8.loads(played["hls"]["playlist"], uri=gateway + played["hls"]["url"])
    variant = next(
        p for p in master.playlists if p.stream_info.pathway_id == played["ocas"][0]["oca_id"]
    )
    async with http.get(variant.absolute_uri, headers=alice) as reply:
        media = m3u8.loads(await reply.text())
    async with http.get(gateway + media.keys[-1].uri) as reply:
        assert reply.status == 200
        assert len(await reply.read()) == 16
    async with http.get(media.segments[0].uri) as reply:
        assert reply.status == 200
        assert reply.url.host.startswith("127.10.255.")
        assert len(await reply.read()) > 0
    async with http.post(gateway + played["stop_url"], headers=alice) as reply:
        assert reply.status == 200

    eve = await signed_in("eve")  # in Brazil, where the demo title is not licensed
    body = {"title_id": title_id, "profile_id": "p-eve", "device_id": "d-eve-browser"}
    async with http.post(f"{gateway}/api/play", json=body, headers=eve) as reply:
        assert reply.status == 403
        assert (await reply.json())["error"]["code"] == "not_licensed"
