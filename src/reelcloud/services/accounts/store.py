"""The accounts database: members, profiles, devices and sessions. The only place that speaks
SQL for them; rows come back as the service's models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from reelcloud.platform.members import Device, Profile
from reelcloud.services.accounts.models import Credentials, Member, NewMember, Session

SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    plan TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members (id),
    name TEXT NOT NULL,
    maturity TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members (id),
    type TEXT NOT NULL,
    max_height INTEGER NOT NULL,
    drm TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
-- The outbox seq of billing's last event that set the plan, and the status (membership.py).
ALTER TABLE members ADD COLUMN IF NOT EXISTS plan_seq BIGINT NOT NULL DEFAULT -1;
ALTER TABLE members ADD COLUMN IF NOT EXISTS status_seq BIGINT NOT NULL DEFAULT -1;
ALTER TABLE members ADD COLUMN IF NOT EXISTS signup_key TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS profiles_member ON profiles (member_id);
CREATE INDEX IF NOT EXISTS devices_member ON devices (member_id);
"""


def _member(row: Any) -> Member:
    return Member(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        country=row["country"],
        plan_name=row["plan"],
        status=row["status"],
    )


def _profile(row: Any) -> Profile:
    return Profile(
        id=row["id"], member_id=row["member_id"], name=row["name"], maturity=row["maturity"]
    )


def _device(row: Any) -> Device:
    return Device(
        id=row["id"],
        member_id=row["member_id"],
        type=row["type"],
        max_height=row["max_height"],
        drm=row["drm"],
    )


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


class AccountsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def has_members(self) -> bool:
        return bool(await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM members)"))

    async def member(self, member_id: str) -> Member | None:
        row = await self.pool.fetchrow("SELECT * FROM members WHERE id = $1", member_id)
        return None if row is None else _member(row)

    async def credentials(self, email: str) -> Credentials | None:
        """The member with this (lower-case) email, its password hash and sign-up key."""
        row = await self.pool.fetchrow("SELECT * FROM members WHERE email = $1", email)
        if row is None:
            return None
        return Credentials(_member(row), row["password_hash"], row["signup_key"])

    async def profile(self, member_id: str, profile_id: str) -> Profile | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM profiles WHERE id = $1 AND member_id = $2", profile_id, member_id
        )
        return None if row is None else _profile(row)

    async def device(self, member_id: str, device_id: str) -> Device | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM devices WHERE id = $1 AND member_id = $2", device_id, member_id
        )
        return None if row is None else _device(row)

    async def profiles(self, member_id: str) -> list[Profile]:
        rows = await self.pool.fetch(
            "SELECT * FROM profiles WHERE member_id = $1 ORDER BY id", member_id
        )
        return [_profile(r) for r in rows]

    async def devices(self, member_id: str) -> list[Device]:
        rows = await self.pool.fetch(
            "SELECT * FROM devices WHERE member_id = $1 ORDER BY id", member_id
        )
        return [_device(r) for r in rows]

    async def add_member(self, new: NewMember, password_hash: str) -> bool:
        """The member, its profiles and devices, in one transaction; False (and nothing
        written) when its email already has an account. Ids already present are left as
        they are, so seeding twice is harmless."""
        member = new.member
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO members (id, email, password_hash, name, country, plan, status, "
                    "signup_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                    "ON CONFLICT (id) DO NOTHING",
                    member.id,
                    member.email,
                    password_hash,
                    member.name,
                    member.country,
                    member.plan_name,
                    member.status,
                    new.signup_key,
                )
                await conn.executemany(
                    "INSERT INTO profiles (id, member_id, name, maturity) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (id) DO NOTHING",
                    [(p.id, member.id, p.name, p.maturity) for p in new.profiles],
                )
                await conn.executemany(
                    "INSERT INTO devices (id, member_id, type, max_height, drm) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                    [(d.id, member.id, d.type, d.max_height, d.drm) for d in new.devices],
                )
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def activate(self, member_id: str) -> Member | None:
        """pending -> active; the member as it is now (None: no such member)."""
        row = await self.pool.fetchrow(
            "UPDATE members SET status = CASE WHEN status = 'pending' THEN 'active' "
            "ELSE status END WHERE id = $1 RETURNING *",
            member_id,
        )
        return None if row is None else _member(row)

    async def delete_pending(self, member_id: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            pending = await conn.fetchval(
                "SELECT 1 FROM members WHERE id = $1 AND status = 'pending' FOR UPDATE",
                member_id,
            )
            if pending is None:
                return False
            for table in ("sessions", "profiles", "devices"):
                await conn.execute(f"DELETE FROM {table} WHERE member_id = $1", member_id)
            await conn.execute("DELETE FROM members WHERE id = $1", member_id)
        return True

    async def apply_billing(
        self, member_id: str, seq: int, *, plan: str | None, status: str | None
    ) -> bool:
        """Set the plan and/or the status from billing's event `seq`, each only if no later
        event set it already. False when the member is unknown."""
        result = await self.pool.execute(
            "UPDATE members SET "
            "plan = CASE WHEN $3::text IS NOT NULL AND $2 > plan_seq THEN $3 ELSE plan END, "
            "plan_seq = CASE WHEN $3::text IS NOT NULL THEN GREATEST(plan_seq, $2) "
            "ELSE plan_seq END, "
            "status = CASE WHEN $4::text IS NOT NULL AND $2 > status_seq THEN $4 ELSE status END, "
            "status_seq = CASE WHEN $4::text IS NOT NULL THEN GREATEST(status_seq, $2) "
            "ELSE status_seq END "
            "WHERE id = $1",
            member_id,
            seq,
            plan,
            status,
        )
        return bool(result.endswith(" 1"))

    async def open_session(self, session: Session) -> None:
        await self.pool.execute(
            "INSERT INTO sessions (id, member_id, expires_at) VALUES ($1, $2, $3)",
            session.id,
            session.member_id,
            datetime.fromtimestamp(session.expires_at, UTC),
        )

    async def session(self, member_id: str, session_id: str) -> Session | None:
        row = await self.pool.fetchrow(
            "SELECT expires_at, revoked_at FROM sessions WHERE id = $1 AND member_id = $2",
            session_id,
            member_id,
        )
        if row is None:
            return None
        return Session(
            session_id, member_id, row["expires_at"].timestamp(), _epoch(row["revoked_at"])
        )

    async def revoke_session(self, member_id: str, session_id: str) -> bool:
        result = await self.pool.execute(
            "UPDATE sessions SET revoked_at = now() "
            "WHERE id = $1 AND member_id = $2 AND revoked_at IS NULL",
            session_id,
            member_id,
        )
        return bool(result.endswith(" 1"))
