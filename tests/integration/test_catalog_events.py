"""The catalog's `title.encoded` consumer keeps consuming: titles announced one after another,
with pauses longer than its fetch timeout, each appear by their event (the origin sweep runs
only at start here), and a poison event does not stop the ones after it."""

import asyncio
import os

import aiohttp
import pytest
import pytest_asyncio
from tests.support.openconnect import publish
from tests.support.platform import running_platform
from tests.support.waiting import wait_for

from reelcloud.encoding.pipeline import TitleEncoded
from reelcloud.platform.assets import manifest_key
from reelcloud.platform.events import EventProducer
from reelcloud.platform.storage import ObjectStore

pytestmark = pytest.mark.asyncio(loop_scope="module")

FILES = {"seg_0.m4s": os.urandom(1000)}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    services = [
        # Swept once at start, then not for the whole test: only events can bring titles.
        {
            "name": "catalog",
            "entrypoint": "reelcloud.services.catalog.api:create_app",
            "options": {"sweep_interval_s": 3600},
        },
    ]
    with running_platform(
        tmp_path_factory.mktemp("catalog-events"),
        services,
        engines=("postgres", "nats", "seaweedfs"),
    ) as platform:
        yield platform


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def origin(platform) -> ObjectStore:
    store = await platform.origin()
    yield store
    await store.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def producer(platform):
    producer = EventProducer(
        platform.env()["REELCLOUD_NATS_URL"],
        producer_id="test-ingest",
        spool_dir=platform.data_dir / "spool-test",
    )
    await producer.start()
    yield producer
    await producer.aclose(drain_timeout_s=5)


def announce(producer, title_id, key=None):
    producer.publish(
        TitleEncoded(
            title_id=title_id,
            title=title_id,
            manifest_key=key or manifest_key(title_id),
            rungs=[],
            duration_s=12.0,
        )
    )


async def listed(platform) -> set[str]:
    url = f"http://{platform.address_of('catalog')}/api/catalog/titles"
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        assert reply.status == 200, await reply.text()
        return {t["id"] for t in (await reply.json())["titles"]}


async def test_every_announced_title_arrives_by_its_event(platform, origin, producer):
    for n in range(3):
        title_id = f"t-event-{n}"
        await publish(origin, title_id, FILES, popularity=n)
        announce(producer, title_id)
        await wait_for(
            lambda title_id=title_id: _has(platform, title_id),
            what=f"{title_id} listed after its title.encoded event",
            timeout_s=20,
            interval_s=0.2,
        )
        # Not a wait for anything: the scenario's idle gap, longer than the consumer's 2 s
        # fetch, so the next event arrives after empty fetches (the path that went quiet).
        await asyncio.sleep(2.5)


async def test_a_poison_event_does_not_stop_the_consumer(platform, origin, producer):
    # An event whose manifest is not on the origin, and one whose key is not a title's.
    announce(producer, "t-missing")
    announce(producer, "t-bad", key="../../etc/passwd")
    await publish(origin, "t-after-poison", FILES)
    announce(producer, "t-after-poison")
    await wait_for(
        lambda: _has(platform, "t-after-poison"),
        what="t-after-poison listed after two events that cannot be published",
        timeout_s=20,
        interval_s=0.2,
    )
    assert not {"t-missing", "t-bad"} & await listed(platform)


async def _has(platform, title_id):
    return title_id in await listed(platform)
