import pytest

from reelcloud.platform.errors import BadRequestError, NotFoundError
from reelcloud.services.playback.models import TitleFacts, Viewer
from reelcloud.services.playback.service import PlaybackService

pytestmark = pytest.mark.asyncio


class MemorySlots:
    """Stream slots in memory (the SQL ones, with their lock, are tested on PostgreSQL)."""

    def __init__(self):
        self.active = {}  # play id -> member id

    async def reserve(self, member_id, profile_id, device_id, title_id, max_streams):
        if sum(1 for m in self.active.values() if m == member_id) >= max_streams:
            return None
        play_id = f"pl-{len(self.active) + 1}"
        self.active[play_id] = member_id
        return play_id

    async def heartbeat(self, play_id, member_id):
        return self.active.get(play_id) == member_id

    async def stop(self, play_id, member_id):
        if self.active.get(play_id) != member_id:
            return False
        del self.active[play_id]
        return True


def viewer(**overrides):
    values = {
        "member_id": "m-chen", "country": "GB", "plan": "basic", "status": "active",
        "plan_max_height": 480, "max_streams": 1, "profile_id": "p-chen",
        "profile_maturity": "R", "device_id": "d-chen-tv", "device_max_height": 2160,
    }  # fmt: skip
    return Viewer(**(values | overrides))


def title(**overrides):
    values = {"title_id": "t-1", "maturity": "PG", "licensed": True,
              "rungs": (("720p", 720), ("240p", 240), ("480p", 480))}  # fmt: skip
    return TitleFacts(**(values | overrides))


async def test_an_allowed_play_takes_a_slot_and_gets_the_rungs_its_plan_allows():
    service = PlaybackService(MemorySlots())
    answer = await service.authorize(viewer(), title())
    assert answer.allowed
    assert answer.play_id
    assert answer.rungs == ("240p", "480p")  # basic: up to 480p, lowest first


async def test_a_plan_with_every_slot_taken_is_refused_until_a_play_stops():
    service = PlaybackService(MemorySlots())
    first = await service.authorize(viewer(), title())
    refused = await service.authorize(viewer(device_id="d-chen-phone"), title())
    assert (refused.allowed, refused.reason) == (False, "too_many_streams")
    assert "basic plan streams on 1 screen" in refused.message
    assert await service.stop(first.play_id, "m-chen")
    assert (await service.authorize(viewer(), title())).allowed


async def test_a_refused_play_takes_no_slot():
    slots = MemorySlots()
    service = PlaybackService(slots)
    answer = await service.authorize(viewer(status="on_hold"), title())
    assert (answer.allowed, answer.reason, answer.play_id) == (False, "plan_on_hold", "")
    assert slots.active == {}


async def test_heartbeats_are_for_the_members_own_active_plays():
    service = PlaybackService(MemorySlots())
    play = await service.authorize(viewer(), title())
    await service.heartbeat(play.play_id, "m-chen")
    with pytest.raises(NotFoundError):
        await service.heartbeat(play.play_id, "m-alice")
    assert not await service.stop(play.play_id, "m-alice")
    assert await service.stop(play.play_id, "m-chen")
    with pytest.raises(NotFoundError):
        await service.heartbeat(play.play_id, "m-chen")


async def test_missing_or_unstorable_ids_are_bad_requests():
    service = PlaybackService(MemorySlots())
    for facts in (
        (viewer(member_id=""), title()),
        (viewer(), title(title_id="")),
        (viewer(profile_id="p\x00"), title()),
        (viewer(), title(title_id="t" * 200)),
    ):
        with pytest.raises(BadRequestError):
            await service.authorize(*facts)
    with pytest.raises(BadRequestError):
        await service.heartbeat("pl-1\x00", "m-chen")
    with pytest.raises(BadRequestError):
        await service.stop("pl-1", "m-chen\x00")
