import asyncio
from datetime import date, timedelta

import pytest

from reelcloud.platform.assets import AssetFile
from reelcloud.platform.errors import NotFoundError, UnavailableError
from reelcloud.platform.testing import FakeClock
from reelcloud.services.catalog.artwork import ArtworkCache
from reelcloud.services.catalog.models import (
    AvailabilitySnapshot,
    BrowseQuery,
    LicenseWindow,
    TitleRecord,
)
from reelcloud.services.catalog.service import (
    AvailabilityBoard,
    CatalogService,
    follow_availability,
)

pytestmark = pytest.mark.asyncio

CLOCK_START = 1_700_000_000.0
TODAY = date.fromtimestamp(CLOCK_START)
ART = AssetFile(name="artwork.jpg", content_id="b" * 64, size=3)


def record(title_id, *, artwork=None, licenses=()):
    return TitleRecord(
        id=title_id,
        name=title_id.upper(),
        year=2024,
        genres=("drama",),
        maturity="PG",
        description="",
        duration_s=12.0,
        popularity=1.0,
        published_at=0.0,
        licenses=tuple(licenses),
        artwork=artwork,
    )


class FakeStore:
    def __init__(self, *records):
        self.records = {r.id: r for r in records}

    async def title(self, title_id, *, with_manifest=False):
        if title_id not in self.records:
            raise NotFoundError(f"no title {title_id!r}")
        return self.records[title_id]

    async def titles(self, *, country="", genre="", query="", limit=100):
        return list(self.records.values())[:limit]


class FakeOrigin:
    def __init__(self):
        self.reads = 0

    async def file(self, title_id, name):
        self.reads += 1
        return b"jpg"


def snapshot(**playable):
    return AvailabilitySnapshot.model_validate(
        {"titles": [{"title_id": t, "playable": p, "since": 5.0} for t, p in playable.items()]}
    )


def service(*records, board=None, origin=None):
    return CatalogService(
        FakeStore(*records),
        board or AvailabilityBoard(),
        ArtworkCache(origin),
        clock=FakeClock(CLOCK_START),
    )


async def test_titles_are_coming_soon_until_cache_control_says_they_are_playable():
    board = AvailabilityBoard()
    catalog = service(record("t-1"), record("t-2"), board=board)
    listing = await catalog.browse(BrowseQuery())
    assert [(t.id, t.availability) for t in listing.titles] == [
        ("t-1", "coming_soon"),
        ("t-2", "coming_soon"),
    ]
    board.update(snapshot(**{"t-1": True, "t-2": False}), now=10.0)
    listing = await catalog.browse(BrowseQuery())
    assert [(t.id, t.availability) for t in listing.titles] == [
        ("t-1", "available"),
        ("t-2", "coming_soon"),
    ]
    assert (await catalog.public_title("t-1")).availability == "available"
    assert catalog.availability("t-1").since == 5.0
    # A title cache control does not know (not on its origin yet) is coming soon.
    board.update(snapshot(**{"t-2": True}), now=11.0)
    assert catalog.availability("t-1").availability == "coming_soon"
    assert catalog.availability("t-1").since is None


async def test_public_titles_show_open_licences_and_artwork():
    windows = [
        LicenseWindow("t-1", "US", TODAY - timedelta(days=1), TODAY + timedelta(days=1)),
        LicenseWindow("t-1", "GB", TODAY - timedelta(days=9), TODAY - timedelta(days=1)),
        LicenseWindow("t-1", "FR", TODAY, TODAY),  # both ends inclusive
    ]
    origin = FakeOrigin()
    catalog = service(record("t-1", artwork=ART, licenses=windows), record("t-2"), origin=origin)
    one = await catalog.public_title("t-1")
    assert one.available_in == ["US", "FR"]
    assert one.artwork_url == "/api/catalog/titles/t-1/artwork"
    assert (await catalog.public_title("t-2")).artwork_url is None
    assert await catalog.artwork_bytes("t-1", await catalog.artwork_file("t-1")) == b"jpg"
    await catalog.artwork_bytes("t-1", ART)
    assert origin.reads == 1  # by content id, once
    with pytest.raises(NotFoundError, match="no artwork"):
        await catalog.artwork_file("t-2")
    assert (await catalog.license("t-1", "gb")).country == "GB"
    assert await catalog.license("t-1", "BR") is None
    with pytest.raises(NotFoundError):
        await catalog.license("t-nothing", "US")


class ScriptedFeed:
    """Answers (or failures) the test hands it, one per poll."""

    def __init__(self):
        self.answers: asyncio.Queue = asyncio.Queue()
        self.polls = 0

    async def fetch(self):
        answer = await self.answers.get()
        self.polls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


async def until(condition, what):
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


async def test_when_cache_control_cannot_be_read_the_last_known_availability_stays():
    board = AvailabilityBoard()
    feed = ScriptedFeed()
    follower = asyncio.create_task(follow_availability(board, feed, 0.001, FakeClock()))
    try:
        await feed.answers.put(snapshot(**{"t-1": True}))
        await until(lambda: board.of("t-1").availability == "available", "t-1 available")
        await feed.answers.put(UnavailableError("no usable instance of cache-control"))
        await feed.answers.put(UnavailableError("still away"))
        await until(lambda: feed.polls == 3, "two failed polls")
        assert board.of("t-1").availability == "available"
        await feed.answers.put(snapshot(**{"t-1": False}))
        await until(lambda: board.of("t-1").availability == "coming_soon", "t-1 withdrawn")
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
