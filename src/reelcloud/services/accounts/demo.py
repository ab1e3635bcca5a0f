"""Demo members, one per interesting case, created on the first start of an empty database.
Every demo password is `reelcloud`."""

from __future__ import annotations

import logging

from reelcloud.platform.members import Device, Profile
from reelcloud.services.accounts.models import Member, NewMember
from reelcloud.services.accounts.service import AccountsService

log = logging.getLogger(__name__)

DEMO_PASSWORD = "reelcloud"
# (id, email, name, country, plan, status)
DEMO_MEMBERS = (
    ("m-alice", "alice@reelcloud.test", "Alice", "US", "premium", "active"),
    ("m-bruno", "bruno@reelcloud.test", "Bruno", "FR", "standard", "active"),
    ("m-chen", "chen@reelcloud.test", "Chen", "GB", "basic", "active"),
    ("m-dana", "dana@reelcloud.test", "Dana", "DE", "standard", "on_hold"),
    ("m-eve", "eve@reelcloud.test", "Eve", "BR", "premium", "active"),  # nothing licensed in BR
)


def demo_member(
    member_id: str, email: str, name: str, country: str, plan: str, status: str
) -> NewMember:
    short = member_id.removeprefix("m-")
    return NewMember(
        Member(member_id, email, name, country, plan, status),
        profiles=[
            Profile(id=f"p-{short}", member_id=member_id, name=name, maturity="R"),
            Profile(id=f"p-{short}-kids", member_id=member_id, name="Kids", maturity="G"),
        ],
        devices=[
            Device(
                id=f"d-{short}-{kind}",
                member_id=member_id,
                type=kind,
                max_height=height,
                drm="aes-128",
            )
            for kind, height in (("browser", 1080), ("tv", 2160), ("phone", 720))
        ],
    )


async def seed_demo_members(service: AccountsService) -> int:
    if await service.store.has_members():
        return 0
    for row in DEMO_MEMBERS:
        await service.add_member(demo_member(*row), DEMO_PASSWORD)
    log.info("seeded %d demo members (password %r)", len(DEMO_MEMBERS), DEMO_PASSWORD)
    return len(DEMO_MEMBERS)
