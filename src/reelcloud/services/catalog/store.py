"""The catalog database: titles (with their asset manifests) and licensing windows."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import orjson

from reelcloud.platform.errors import NotFoundError

SCHEMA = """
CREATE TABLE IF NOT EXISTS titles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    year INTEGER,
    genres TEXT[] NOT NULL DEFAULT '{}',
    maturity TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    duration_s DOUBLE PRECISION NOT NULL,
    popularity DOUBLE PRECISION NOT NULL DEFAULT 0,
    manifest JSONB NOT NULL,
    published_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS licenses (
    title_id TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    country TEXT NOT NULL,
    starts DATE NOT NULL,
    ends DATE NOT NULL,
    PRIMARY KEY (title_id, country)
);
"""


def _date(text: str) -> date:
    return date.fromisoformat(text)


class CatalogStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def known_ids(self) -> set[str]:
        return {r["id"] for r in await self.pool.fetch("SELECT id FROM titles")}

    async def publish(self, manifest: dict[str, Any]) -> None:
        """Insert or replace a title from its asset manifest (ingest's output)."""
        metadata = manifest.get("metadata") or {}
        title_id = manifest["title_id"]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO titles (id, name, year, genres, maturity, description, duration_s,
                                    popularity, manifest, published_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (id) DO UPDATE SET
                    name = EXCLUDED.name, year = EXCLUDED.year, genres = EXCLUDED.genres,
                    maturity = EXCLUDED.maturity, description = EXCLUDED.description,
                    duration_s = EXCLUDED.duration_s, popularity = EXCLUDED.popularity,
                    manifest = EXCLUDED.manifest, published_at = EXCLUDED.published_at
                """,
                title_id,
                str(metadata.get("title") or title_id),
                metadata.get("year"),
                list(metadata.get("genres") or []),
                str(metadata.get("maturity") or "PG"),
                str(metadata.get("description") or ""),
                float(manifest.get("duration_s") or 0.0),
                float(metadata.get("popularity") or 0.0),
                orjson.dumps(manifest).decode(),
                float(manifest.get("encoded_at") or 0.0),
            )
            await conn.execute("DELETE FROM licenses WHERE title_id = $1", title_id)
            for window in metadata.get("licenses") or []:
                await conn.execute(
                    "INSERT INTO licenses (title_id, country, starts, ends) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (title_id, country) DO UPDATE SET starts = EXCLUDED.starts,"
                    " ends = EXCLUDED.ends",
                    title_id,
                    str(window["country"]).upper(),
                    _date(window["start"]),
                    _date(window["end"]),
                )

    async def title(self, title_id: str) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM titles WHERE id = $1", title_id)
        if row is None:
            raise NotFoundError(f"no title {title_id!r}")
        title = dict(row)
        title["licenses"] = await self.licenses(title_id)
        return title

    async def licenses(self, title_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM licenses WHERE title_id = $1 ORDER BY country", title_id
        )
        return [dict(r) for r in rows]

    async def titles(
        self, *, country: str = "", genre: str = "", query: str = "", limit: int = 100
    ) -> list[dict[str, Any]]:
        conditions: list[str] = []
        args: list[object] = []
        if country:
            args.append(country.upper())
            conditions.append(
                f"EXISTS (SELECT 1 FROM licenses l WHERE l.title_id = t.id AND l.country = "
                f"${len(args)} AND current_date BETWEEN l.starts AND l.ends)"
            )
        if genre:
            args.append(genre)
            conditions.append(f"${len(args)} = ANY (t.genres)")
        if query:
            escaped = query.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            args.append(f"%{escaped}%")
            conditions.append(f"t.name ILIKE ${len(args)}")
        where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
        args.append(limit)
        order = f"ORDER BY t.popularity DESC, t.name LIMIT ${len(args)}"
        rows = await self.pool.fetch(f"SELECT t.* FROM titles t {where} {order}", *args)
        return [dict(r) for r in rows]
