"""The `title.encoded` consumer, on fakes: it survives timeouts, poison events and failures of
its connection, and acknowledges only what is published or can never be."""

import asyncio
import hashlib

import pytest

from reelcloud.platform.assets import AssetManifest, manifest_key
from reelcloud.platform.errors import NotFoundError, UnavailableError
from reelcloud.platform.events.schema import Envelope
from reelcloud.services.catalog.publishing import Publisher
from reelcloud.services.catalog.settings import CatalogSettings

pytestmark = pytest.mark.asyncio


def manifest(title_id):
    content_id = hashlib.sha256(title_id.encode()).hexdigest()
    return AssetManifest.model_validate(
        {
            "title_id": title_id,
            "metadata": {"title": title_id},
            "files": [{"name": "seg_0.m4s", "content_id": content_id, "size": 1}],
        }
    )


class FakeOrigin:
    def __init__(self, *title_ids):
        self.manifests = {t: manifest(t) for t in title_ids}
        self.down = False

    async def published(self):
        return list(self.manifests)

    async def stored_manifest(self, title_id):
        if self.down:
            raise UnavailableError("object store unreachable")
        if title_id == "t-garbled":
            raise ValueError("not JSON")
        if title_id not in self.manifests:
            raise NotFoundError(f"titles/{title_id}/manifest.json: not found")
        found = self.manifests[title_id]
        return found, found.to_json().decode()


class FakeTitles:
    def __init__(self):
        self.published: list[str] = []

    async def known_ids(self):
        return set(self.published)

    async def publish(self, manifest, raw):
        if manifest.title_id == "t-database-bug":
            raise RuntimeError("a bug in the store")
        self.published.append(manifest.title_id)


class FakeMessage:
    def __init__(self):
        self.outcome = None

    async def ack(self):
        self.outcome = "ack"

    async def nak(self, delay=None):
        self.outcome = ("nak", delay)


def event(title_id, key=None):
    return Envelope(
        id=f"e-{title_id}",
        type="title.encoded",
        version=1,
        time=0.0,
        producer="test",
        seq=0,
        request_id=None,
        payload={"title_id": title_id, "manifest_key": key or manifest_key(title_id)},
    )


class FakeConsumer:
    """Hands out what the test scripts: batches, TimeoutErrors, or a broken connection."""

    def __init__(self, script):
        self.script = script
        self.started = self.closed = 0

    async def start(self):
        self.started += 1

    async def fetch(self, batch, timeout_s):
        step = await self.script.get()
        if isinstance(step, BaseException):
            raise step
        return step

    async def aclose(self):
        self.closed += 1


async def until(condition, what):
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


async def handled(publisher, title_id, **kwargs):
    message = FakeMessage()
    await publisher.handle(event(title_id, **kwargs), message)
    return message.outcome


async def test_acks_what_is_published_or_never_can_be_and_retries_passing_failures():
    origin = FakeOrigin("t-1", "t-database-bug")
    titles = FakeTitles()
    publisher = Publisher(origin, titles, CatalogSettings())
    assert await handled(publisher, "t-1") == "ack"
    assert titles.published == ["t-1"]
    assert await handled(publisher, "t-missing") == "ack"  # a sweep finds it if it comes
    assert await handled(publisher, "t-garbled") == "ack"
    assert await handled(publisher, "t-1", key="../../etc/passwd") == "ack"
    assert await handled(publisher, "t-database-bug") == ("nak", 5.0)
    origin.down = True
    assert await handled(publisher, "t-1") == ("nak", 5.0)
    assert titles.published == ["t-1"]


async def test_the_consumer_keeps_consuming_past_timeouts_poison_and_a_lost_connection():
    script: asyncio.Queue = asyncio.Queue()
    consumers = []

    def consumer():
        consumers.append(FakeConsumer(script))
        return consumers[-1]

    titles = FakeTitles()
    options = CatalogSettings(sweep_interval_s=3600, consumer_retry_s=0.001)
    publisher = Publisher(FakeOrigin("t-1", "t-2", "t-3"), titles, options, consumer)
    task = asyncio.create_task(publisher.follow_events())
    try:
        first = FakeMessage()
        await script.put([(event("t-1"), first)])
        await script.put(TimeoutError())  # nats-py's bare timeout on an empty fetch
        await script.put([(event("t-missing"), FakeMessage()), (event("t-2"), FakeMessage())])
        await until(lambda: titles.published == ["t-1", "t-2"], "t-1 then t-2 published")
        assert first.outcome == "ack"
        await script.put(ConnectionResetError("nats went away"))
        await until(lambda: len(consumers) == 2, "a new consumer after the lost connection")
        assert consumers[0].closed == 1
        await script.put([(event("t-3"), FakeMessage())])
        await until(lambda: titles.published == ["t-1", "t-2", "t-3"], "t-3 published")
        assert consumers[1].started == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_sweep_publishes_what_the_catalog_has_not_heard_of():
    titles = FakeTitles()
    titles.published.append("t-1")
    publisher = Publisher(FakeOrigin("t-1", "t-2", "t-garbled"), titles, CatalogSettings())
    publisher.origin.manifests["t-garbled"] = manifest("t-garbled")
    assert await publisher.sweep() == 1  # t-2; the garbled one is skipped, not fatal
    assert titles.published == ["t-1", "t-2"]
