"""Stream slots in the playback database: a play holds one until it stops or falls silent."""

from __future__ import annotations

import hashlib
import secrets

import asyncpg

SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    play_id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    title_id TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    stopped_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS streams_member_active ON streams (member_id) WHERE stopped_at IS NULL;
"""


def _lock_key(member_id: str) -> int:
    return int.from_bytes(hashlib.sha256(member_id.encode()).digest()[:8], "big", signed=True)


class StreamSlots:
    def __init__(self, pool: asyncpg.Pool, silence_s: float) -> None:
        self.pool = pool
        self.silence_s = silence_s  # a play with no heartbeat for this long has ended

    async def reserve(
        self, member_id: str, profile_id: str, device_id: str, title_id: str, max_streams: int
    ) -> str | None:
        """A new play id, or None when the member's plan has no free stream."""
        async with self.pool.acquire() as conn, conn.transaction():
            # One member's reservations one at a time: two plays cannot take the last slot.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(member_id))
            active = await conn.fetchval(
                "SELECT count(*) FROM streams WHERE member_id = $1 AND stopped_at IS NULL "
                "AND last_seen > now() - make_interval(secs => $2)",
                member_id,
                self.silence_s,
            )
            if active >= max_streams:
                return None
            play_id = f"pl-{secrets.token_hex(8)}"
            await conn.execute(
                "INSERT INTO streams (play_id, member_id, profile_id, device_id, title_id) "
                "VALUES ($1, $2, $3, $4, $5)",
                play_id,
                member_id,
                profile_id,
                device_id,
                title_id,
            )
            return play_id

    async def heartbeat(self, play_id: str, member_id: str) -> bool:
        result = await self.pool.execute(
            "UPDATE streams SET last_seen = now() WHERE play_id = $1 AND member_id = $2 "
            "AND stopped_at IS NULL",
            play_id,
            member_id,
        )
        return bool(result.endswith(" 1"))

    async def stop(self, play_id: str, member_id: str) -> bool:
        result = await self.pool.execute(
            "UPDATE streams SET stopped_at = now() WHERE play_id = $1 AND member_id = $2 "
            "AND stopped_at IS NULL",
            play_id,
            member_id,
        )
        return bool(result.endswith(" 1"))
