"""The jobs' results: each window's latest value per key, as the jobs last wrote it.

One table for every job: (job, window start, key) → value. A window is rewritten as it
changes (the whole value, so a rewrite after a restart is harmless), and dropped once older
than `keep_s`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_results (
    job TEXT NOT NULL,
    window_start BIGINT NOT NULL,  -- ms since the epoch, event time
    window_end BIGINT NOT NULL,
    key TEXT NOT NULL,
    value JSONB NOT NULL,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job, window_start, key)
);
CREATE INDEX IF NOT EXISTS job_results_by_key ON job_results (job, key, window_start);
"""


@dataclass(frozen=True)
class Result:
    job: str
    window_start: int
    window_end: int
    key: str
    value: Any


class Results:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def write(self, results: list[Result]) -> None:
        async with self.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO job_results (job, window_start, window_end, key, value) "
                "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (job, window_start, key) "
                "DO UPDATE SET value = EXCLUDED.value, window_end = EXCLUDED.window_end, "
                "written_at = now()",
                [(r.job, r.window_start, r.window_end, r.key, json.dumps(r.value))
                 for r in results],
            )  # fmt: skip

    async def prune(self, job: str, before_ms: int) -> int:
        done = await self.pool.execute(
            "DELETE FROM job_results WHERE job = $1 AND window_end < $2", job, before_ms
        )
        return int(done.split()[-1])

    async def windows(
        self, job: str, *, key: str | None = None, since_ms: int | None = None
    ) -> list[Result]:
        """A job's windows, oldest first; of one key, and from a start on, when asked."""
        rows = await self.pool.fetch(
            "SELECT window_start, window_end, key, value FROM job_results WHERE job = $1 "
            "AND ($2::text IS NULL OR key = $2) AND ($3::bigint IS NULL OR window_start >= $3) "
            "ORDER BY window_start, key",
            job, key, since_ms,
        )  # fmt: skip
        return [
            Result(job, row["window_start"], row["window_end"], row["key"],
                   json.loads(row["value"]))
            for row in rows
        ]  # fmt: skip

    async def keys(self, job: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT key FROM job_results WHERE job = $1 ORDER BY key", job
        )
        return [row["key"] for row in rows]
