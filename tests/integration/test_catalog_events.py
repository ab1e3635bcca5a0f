"""The catalog's `title.encoded` consumer keeps consuming: titles announced one after another,
back to back or after idle fetches, each appear by their event (the origin sweep runs only at
start here), a poison event does not stop the ones after it, and a consumer whose durable is
deleted on the server is started again and consumes on."""

import os

import aiohttp
import nats
import pytest
import pytest_asyncio
from tests.support.openconnect import publish
from tests.support.platform import running_platform
from tests.support.waiting import wait_for

from reelcloud.platform.assets import manifest_key
from reelcloud.platform.events import EventProducer
from reelcloud.platform.events.titles import TitleEncoded
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


async def metric(platform, name, **labels) -> float:
    """A sample of the catalog's /metrics (0 when it was never counted)."""
    url = f"http://{platform.address_of('catalog')}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        text = await reply.text()
    wanted = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


async def fetches(platform) -> float:
    return await metric(platform, "reelcloud_events_consumer_fetches_total", consumer="catalog")


async def test_titles_announced_one_after_another_each_arrive_by_their_event(
    platform, origin, producer
):
    # Back to back: three events, all in the stream before the consumer's next fetch.
    for n in range(3):
        await publish(origin, f"t-row-{n}", FILES, popularity=n)
    for n in range(3):
        announce(producer, f"t-row-{n}")
    await wait_for(
        lambda: _has_all(platform, {f"t-row-{n}" for n in range(3)}),
        what="three titles announced back to back are listed by their events",
        timeout_s=20,
        interval_s=0.2,
    )
    # With idle fetches between them (the path that once went quiet: after the first event,
    # a fetch that timed out ended the consumer): each next event comes after the consumer
    # has made two more fetches, empty ones.
    for n in range(3):
        title_id = f"t-idle-{n}"
        before = await fetches(platform)
        await wait_for(
            lambda before=before: _more_fetches(platform, before + 2),
            what="the consumer fetches on while nothing comes",
            timeout_s=20,
            interval_s=0.2,
        )
        await publish(origin, title_id, FILES, popularity=n)
        announce(producer, title_id)
        await wait_for(
            lambda title_id=title_id: _has(platform, title_id),
            what=f"{title_id} listed after its title.encoded event",
            timeout_s=20,
            interval_s=0.2,
        )


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


async def test_a_consumer_whose_durable_is_deleted_restarts_and_consumes_on(
    platform, origin, producer
):
    before = await metric(platform, "reelcloud_events_consumer_restarts_total", consumer="catalog")
    bus = await nats.connect(platform.env()["REELCLOUD_NATS_URL"])
    try:
        await bus.jetstream().delete_consumer("EVENTS", "catalog")  # its subscription fails
    finally:
        await bus.close()
    await wait_for(
        lambda: _restarted(platform, before),
        what="the catalog's consumer restarts after its durable is deleted",
        timeout_s=20,
        interval_s=0.2,
    )
    await wait_for(lambda: _ready(platform), what="the catalog is ready again", timeout_s=20)
    await publish(origin, "t-after-restart", FILES)
    announce(producer, "t-after-restart")
    await wait_for(
        lambda: _has(platform, "t-after-restart"),
        what="a title announced after the restart is listed by its event",
        timeout_s=20,
        interval_s=0.2,
    )


async def _has(platform, title_id):
    return title_id in await listed(platform)


async def _has_all(platform, title_ids):
    return title_ids <= await listed(platform)


async def _more_fetches(platform, at_least):
    return await fetches(platform) >= at_least


async def _restarted(platform, before):
    restarts = "reelcloud_events_consumer_restarts_total"
    return await metric(platform, restarts, consumer="catalog") > before


async def _ready(platform):
    url = f"http://{platform.address_of('catalog')}/readyz"
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        body = await reply.json()
        return reply.status == 200 and body["checks"] == {
            "consumer catalog (events.title.encoded)": "ok"
        }
