"""The playback service: a play is decided by the rules, then takes one of the plan's stream
slots. Framework-free; the slots' store is handed in."""

from __future__ import annotations

from typing import Protocol

from reelcloud.platform.errors import BadRequestError, NotFoundError
from reelcloud.services.playback.models import Authorization, TitleFacts, Viewer
from reelcloud.services.playback.rules import decide

MAX_ID = 128


class SlotStore(Protocol):
    """Stream slots (`store.StreamSlots`; fakes in unit tests)."""

    async def reserve(
        self, member_id: str, profile_id: str, device_id: str, title_id: str, max_streams: int
    ) -> str | None: ...
    async def heartbeat(self, play_id: str, member_id: str) -> bool: ...
    async def stop(self, play_id: str, member_id: str) -> bool: ...


def _checked_ids(**ids: str) -> None:
    """Ids from the Play API: anything PostgreSQL would refuse is a bad request, not a 500."""
    for name, value in ids.items():
        if len(value) > MAX_ID or "\x00" in value:
            raise BadRequestError(f"{name} is not an id")


class PlaybackService:
    def __init__(self, slots: SlotStore) -> None:
        self.slots = slots

    async def authorize(self, viewer: Viewer, title: TitleFacts) -> Authorization:
        if not viewer.member_id or not title.title_id:
            raise BadRequestError("viewer.member_id and title.title_id are required")
        _checked_ids(
            member_id=viewer.member_id,
            profile_id=viewer.profile_id,
            device_id=viewer.device_id,
            title_id=title.title_id,
        )
        decision = decide(
            status=viewer.status,
            licensed=title.licensed,
            country=viewer.country,
            title_maturity=title.maturity,
            profile_maturity=viewer.profile_maturity,
            plan_max_height=viewer.plan_max_height,
            device_max_height=viewer.device_max_height,
            rungs=list(title.rungs),
        )
        if not decision.allowed:
            return Authorization(False, decision.reason, decision.message)
        play_id = await self.slots.reserve(
            viewer.member_id,
            viewer.profile_id,
            viewer.device_id,
            title.title_id,
            viewer.max_streams,
        )
        if play_id is None:
            return Authorization(
                False,
                "too_many_streams",
                f"Your {viewer.plan} plan streams on {viewer.max_streams} screen(s) at a time: "
                "stop another one first.",
            )
        return Authorization(True, play_id=play_id, rungs=decision.rungs)

    async def heartbeat(self, play_id: str, member_id: str) -> None:
        _checked_ids(play_id=play_id, member_id=member_id)
        if not await self.slots.heartbeat(play_id, member_id):
            raise NotFoundError("no such active play for this member")

    async def stop(self, play_id: str, member_id: str) -> bool:
        _checked_ids(play_id=play_id, member_id=member_id)
        return await self.slots.stop(play_id, member_id)
