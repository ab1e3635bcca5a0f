"""The fill agent against a real peer OCA and a real S3 origin (SeaweedFS)."""

import asyncio
import hashlib
import os
import time
from datetime import datetime, timedelta

import orjson
import pytest
import pytest_asyncio
from tests.integration.test_storage import ready_store
from tests.support.openconnect import KEYS, manifest_for, publish, start_oca

from reelcloud.openconnect.fill import FillAgent
from reelcloud.openconnect.store import ContentStore
from reelcloud.platform.signed_urls import UrlSigner
from reelcloud.platform.topology import OcaConfig

pytestmark = pytest.mark.asyncio

PEER = "127.10.255.81"
ME = "127.10.255.82"


@pytest_asyncio.fixture
async def origin(seaweed):
    store = await ready_store(seaweed.url)
    yield store
    await store.aclose()


def oca_config(**overrides) -> OcaConfig:
    values = {"id": "oca-me", "site": "isp-a-1", "address": ME, "capacity_bytes": 10**8}
    values.update(overrides)
    return OcaConfig.model_validate(values)


def fill_manifest(manifest, sources, *, origin=True, new=True, fill_now=0):
    return {
        "fill_now": fill_now,
        "titles": [
            {
                "title_id": manifest["title_id"],
                "rank": 1,
                "new": new,
                "size": sum(f["size"] for f in manifest["files"]),
                "files": manifest["files"],
                "sources": sources,
                "origin": origin,
            }
        ],
    }


async def agent_for(tmp_path, origin, **config) -> FillAgent:
    oca = oca_config(**config)
    store = ContentStore(tmp_path / "me", oca.capacity_bytes)
    agent = FillAgent(oca, store, UrlSigner(KEYS), origin, log_path=tmp_path / "fill.log")
    await agent.start()
    return agent


def fill_log(tmp_path):
    return [orjson.loads(line) for line in (tmp_path / "fill.log").read_bytes().splitlines()]


async def test_a_corrupt_copy_is_detected_and_fetched_again_from_the_next_source(tmp_path, origin):
    files = {"a.m4s": os.urandom(200_000), "b.m4s": os.urandom(100_000)}
    manifest = await publish(origin, "t-corrupt", files)
    peer = await start_oca(tmp_path / "peer", PEER, {"t-corrupt": files})
    # Flip bytes of one file on the peer's disk: it still serves it, with the wrong content.
    bad = peer.store.object_path(hashlib.sha256(files["a.m4s"]).hexdigest())
    bad.write_bytes(b"\0" * 1000 + files["a.m4s"][1000:])
    agent = await agent_for(tmp_path, origin)
    try:
        source = {"oca_id": "oca-peer", "address": PEER, "port": peer.port, "kind": "peer"}
        await agent.fill(fill_manifest(manifest, [source]))
        assert agent.corrupt == 1
        for name, data in files.items():
            content_id = agent.store.lookup("t-corrupt", name)
            assert content_id == hashlib.sha256(data).hexdigest()
            assert agent.store.object_path(content_id).read_bytes() == data
        outcomes = {(e["name"], e["source_kind"], e["outcome"]) for e in fill_log(tmp_path)}
        assert outcomes == {
            ("a.m4s", "peer", "corrupt"),
            ("a.m4s", "origin", "ok"),
            ("b.m4s", "peer", "ok"),
        }
        assert agent.bytes_by_source == {"peer": 100_000, "origin": 200_000}
        assert not list((agent.store.root / "partial").iterdir())
    finally:
        await agent.aclose()
        peer.server.close()


async def test_an_interrupted_download_resumes_and_is_never_served_half_done(tmp_path, origin):
    data = os.urandom(500_000)
    manifest = await publish(origin, "t-resume", {"big.m4s": data})
    agent = await agent_for(tmp_path, origin)
    try:
        content_id = hashlib.sha256(data).hexdigest()
        # What a crash leaves behind: the first 200 kB in partial/.
        agent.store.partial_path(content_id).write_bytes(data[:200_000])
        agent.store.set_title("t-resume", {"big.m4s": content_id})
        assert agent.store.lookup("t-resume", "big.m4s") is None  # not servable
        restarted = ContentStore(agent.store.root, 10**8)  # the store as a restart finds it
        assert restarted.lookup("t-resume", "big.m4s") is None
        await agent.fill(fill_manifest(manifest, []))
        assert agent.bytes_by_source["origin"] == 300_000  # only the rest was fetched
        assert agent.store.object_path(content_id).read_bytes() == data
        assert agent.store.lookup("t-resume", "big.m4s") == content_id
    finally:
        await agent.aclose()


async def test_the_bandwidth_cap_holds(tmp_path, origin):
    files = {f"s{i}.m4s": os.urandom(300_000) for i in range(8)}  # 2.4 MB
    peer = await start_oca(tmp_path / "peer", PEER, {"t-capped": files})
    cap = 1_000_000
    agent = await agent_for(tmp_path, origin, fill_rate_bytes_per_s=cap)
    try:
        source = {"oca_id": "oca-peer", "address": PEER, "port": peer.port, "kind": "peer"}
        started = time.monotonic()
        await agent.fill(fill_manifest(manifest_for("t-capped", files), [source], origin=False))
        elapsed = time.monotonic() - started
        rate = sum(len(d) for d in files.values()) / elapsed
        assert agent.bytes_by_source["peer"] == 2_400_000
        # A ceiling only: the fill never goes faster than its cap (uncapped, loopback moves
        # these 2.4 MB in milliseconds). How close it comes to the cap is a slow machine's
        # business, not the test's.
        assert rate <= cap * 1.1, f"{rate:.0f} B/s against a cap of {cap}"
    finally:
        await agent.aclose()
        peer.server.close()


async def test_fill_waits_for_its_window_unless_the_title_is_new_or_fill_now(tmp_path, origin):
    files = {"a.m4s": os.urandom(50_000)}
    manifest = await publish(origin, "t-window", files, age_s=10 * 86400)
    now = datetime.now()
    later = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    closes = (now + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    agent = await agent_for(tmp_path, origin, fill_window=(later, closes))
    try:
        await agent.fill(fill_manifest(manifest, [], new=False))
        assert agent.store.sizes == {}  # outside its window, an old title waits
        await agent.fill(fill_manifest(manifest, [], new=True))
        assert len(agent.store.sizes) == 1  # a new title fills at once
        agent.store.evict(next(iter(agent.store.sizes)))
        await agent.fill(fill_manifest(manifest, [], new=False, fill_now=1))
        assert len(agent.store.sizes) == 1
        assert agent.fill_now_done == 1
    finally:
        await agent.aclose()


async def test_a_full_disk_evicts_what_the_plan_no_longer_wants(tmp_path, origin):
    old = {"old.m4s": os.urandom(600_000)}
    new = {"new.m4s": os.urandom(600_000)}
    await publish(origin, "t-old", old)
    manifest = await publish(origin, "t-new", new)
    agent = await agent_for(tmp_path, origin, capacity_bytes=1_000_000)
    try:
        await agent.fill(fill_manifest(manifest_for("t-old", old), []))
        assert agent.store.used_bytes == 600_000
        await agent.fill(fill_manifest(manifest, []))  # t-old is no longer in the plan
        assert agent.evicted == 1
        assert agent.store.complete_titles() == ["t-new"]
        assert agent.store.used_bytes == 600_000
        # A title that cannot fit at all is skipped, nothing else is evicted.
        huge = await publish(origin, "t-huge", {"huge.m4s": os.urandom(1_100_000)})
        plan = fill_manifest(manifest, [])
        plan["titles"] += fill_manifest(huge, [])["titles"]
        await agent.fill(plan)
        assert agent.store.complete_titles() == ["t-new"]
    finally:
        await agent.aclose()
    await asyncio.sleep(0)
