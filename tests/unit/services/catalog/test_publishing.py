"""Publishing titles, on fakes: what an event's handler does with each outcome, and the sweep.
(The consumer around the handler is `platform.events.EventSubscription`, tested on NATS.)"""

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


async def test_handled_once_published_or_never_publishable_raised_to_be_retried_otherwise():
    origin = FakeOrigin("t-1", "t-database-bug")
    titles = FakeTitles()
    publisher = Publisher(origin, titles, CatalogSettings())
    await publisher.handle_event(event("t-1"))
    assert titles.published == ["t-1"]
    # Never publishable: handled (acknowledged); a sweep finds the title if it comes.
    for never in (event("t-missing"), event("t-garbled"), event("t-1", key="../../etc/passwd")):
        await publisher.handle_event(never)
    # Passing or unknown failures raise: the subscription delivers the event again, a few
    # times at most.
    with pytest.raises(RuntimeError, match="a bug in the store"):
        await publisher.handle_event(event("t-database-bug"))
    origin.down = True
    with pytest.raises(UnavailableError):
        await publisher.handle_event(event("t-1"))
    assert titles.published == ["t-1"]


async def test_the_sweep_publishes_what_the_catalog_has_not_heard_of():
    titles = FakeTitles()
    titles.published.append("t-1")
    publisher = Publisher(FakeOrigin("t-1", "t-2", "t-garbled"), titles, CatalogSettings())
    publisher.origin.manifests["t-garbled"] = manifest("t-garbled")
    assert await publisher.sweep() == 1  # t-2; the garbled one is skipped, not fatal
    assert titles.published == ["t-1", "t-2"]
