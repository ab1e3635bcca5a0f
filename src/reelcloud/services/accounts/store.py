"""The accounts database: members, profiles, devices, sessions; passwords hashed with argon2."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from reelcloud.platform.errors import ConflictError, NotFoundError, UnauthenticatedError
from reelcloud.services.accounts.plans import PLANS

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
CREATE INDEX IF NOT EXISTS profiles_member ON profiles (member_id);
CREATE INDEX IF NOT EXISTS devices_member ON devices (member_id);
"""

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~25-50 ms a sign-in here.
# The library default (RFC 9106's 64 MiB, 3 passes, 4 lanes) took ~0.85 s of both cores per
# sign-in on this 2-core machine: a few dozen members signing in at once queued for seconds.
# Hashes carry their parameters, so older ones still verify.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Checked when the email is unknown too, so both failures take the same time.
_DUMMY_HASH = HASHER.hash("reelcloud-no-such-member")


@dataclass(frozen=True)
class Session:
    id: str
    member_id: str
    expires_at: datetime


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


class AccountsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def member(self, member_id: str) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM members WHERE id = $1", member_id)
        if row is None:
            raise NotFoundError("no such member")
        return dict(row)

    async def owned(self, table: str, member_id: str, item_id: str) -> dict[str, Any]:
        assert table in ("profiles", "devices")
        row = await self.pool.fetchrow(
            f"SELECT * FROM {table} WHERE id = $1 AND member_id = $2", item_id, member_id
        )
        if row is None:  # someone else's looks the same as nobody's
            raise NotFoundError(f"no such {table[:-1]} for this member")
        return dict(row)

    async def listing(self, table: str, member_id: str) -> list[dict[str, Any]]:
        assert table in ("profiles", "devices")
        rows = await self.pool.fetch(
            f"SELECT * FROM {table} WHERE member_id = $1 ORDER BY id", member_id
        )
        return [dict(r) for r in rows]

    async def check_password(self, email: str, password: str) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM members WHERE email = $1", email.lower())
        stored = row["password_hash"] if row is not None else _DUMMY_HASH
        refused = UnauthenticatedError("wrong email or password", code="invalid_credentials")
        try:
            await asyncio.to_thread(HASHER.verify, stored, password)
        except (VerificationError, InvalidHashError):
            raise refused from None
        if row is None:
            raise refused
        return dict(row)

    async def open_session(self, member_id: str, ttl_s: int) -> Session:
        session = Session(new_id("s"), member_id, datetime.now(UTC) + timedelta(seconds=ttl_s))
        await self.pool.execute(
            "INSERT INTO sessions (id, member_id, expires_at) VALUES ($1, $2, $3)",
            session.id,
            member_id,
            session.expires_at,
        )
        return session

    async def check_session(self, member_id: str, session_id: str) -> None:
        row = await self.pool.fetchrow(
            "SELECT expires_at, revoked_at FROM sessions WHERE id = $1 AND member_id = $2",
            session_id,
            member_id,
        )
        if row is None:
            raise UnauthenticatedError("no such session", code="invalid_session")
        if row["revoked_at"] is not None:
            raise UnauthenticatedError("this session was signed out", code="session_revoked")
        if row["expires_at"] <= datetime.now(UTC):
            raise UnauthenticatedError("this session has expired", code="session_expired")

    async def revoke_session(self, member_id: str, session_id: str) -> bool:
        result = await self.pool.execute(
            "UPDATE sessions SET revoked_at = now() "
            "WHERE id = $1 AND member_id = $2 AND revoked_at IS NULL",
            session_id,
            member_id,
        )
        return bool(result.endswith(" 1"))

    async def create_member(
        self,
        *,
        member_id: str,
        email: str,
        password: str,
        name: str,
        country: str,
        plan: str,
        status: str = "active",
        profiles: list[tuple[str, str, str]] | None = None,  # (id, name, maturity)
        devices: list[tuple[str, str, int, str]] | None = None,  # (id, type, height, drm)
    ) -> None:
        """A member, its profiles and devices, in one transaction; an email already taken is a
        ConflictError (and nothing is written)."""
        assert plan in PLANS
        password_hash = await asyncio.to_thread(HASHER.hash, password)
        try:
            await self._insert_member(
                member_id, email, password_hash, name, country, plan, status, profiles, devices
            )
        except asyncpg.UniqueViolationError:
            raise ConflictError("that email already has an account", code="email_taken") from None

    async def _insert_member(
        self,
        member_id: str,
        email: str,
        password_hash: str,
        name: str,
        country: str,
        plan: str,
        status: str,
        profiles: list[tuple[str, str, str]] | None,
        devices: list[tuple[str, str, int, str]] | None,
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO members (id, email, password_hash, name, country, plan, status) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                member_id,
                email.lower(),
                password_hash,
                name,
                country,
                plan,
                status,
            )
            for profile_id, profile_name, maturity in profiles or []:
                await conn.execute(
                    "INSERT INTO profiles (id, member_id, name, maturity) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (id) DO NOTHING",
                    profile_id,
                    member_id,
                    profile_name,
                    maturity,
                )
            for device_id, kind, max_height, drm in devices or []:
                await conn.execute(
                    "INSERT INTO devices (id, member_id, type, max_height, drm) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                    device_id,
                    member_id,
                    kind,
                    max_height,
                    drm,
                )
