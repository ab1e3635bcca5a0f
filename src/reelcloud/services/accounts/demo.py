"""Demo members, one per interesting case, created on the first start of an empty database.
Every demo password is `reelcloud`."""

from __future__ import annotations

import logging

from reelcloud.services.accounts.store import AccountsStore

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


async def seed_demo_members(store: AccountsStore) -> int:
    if await store.pool.fetchval("SELECT count(*) FROM members"):
        return 0
    for member_id, email, name, country, plan, status in DEMO_MEMBERS:
        short = member_id.removeprefix("m-")
        await store.create_member(
            member_id=member_id,
            email=email,
            password=DEMO_PASSWORD,
            name=name,
            country=country,
            plan=plan,
            status=status,
            profiles=[(f"p-{short}", name, "R"), (f"p-{short}-kids", "Kids", "G")],
            devices=[
                (f"d-{short}-browser", "browser", 1080, "aes-128"),
                (f"d-{short}-tv", "tv", 2160, "aes-128"),
                (f"d-{short}-phone", "phone", 720, "aes-128"),
            ],
        )
    log.info("seeded %d demo members (password %r)", len(DEMO_MEMBERS), DEMO_PASSWORD)
    return len(DEMO_MEMBERS)
