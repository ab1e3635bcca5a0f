"""Where the catalog's data lives and comes from: its database (titles with their asset
manifests, licensing windows), the origin (published manifests, artwork), and cache control
(which titles are playable, read over HTTP)."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
from pydantic import ValidationError

from reelcloud.platform.assets import AssetFile, AssetManifest
from reelcloud.platform.discovery import ServiceHttpClient
from reelcloud.platform.errors import NotFoundError, UnavailableError
from reelcloud.services.catalog.models import AvailabilitySnapshot, LicenseWindow, TitleRecord

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

# A title's columns with its artwork file found in the manifest by the database, so listings
# never load whole manifests (hundreds of files each) to show a picture.
_COLUMNS = """
    t.id, t.name, t.year, t.genres, t.maturity, t.description, t.duration_s, t.popularity,
    t.published_at, a.name AS artwork_name, a.content_id AS artwork_content_id,
    a.size AS artwork_size
"""
_ARTWORK = """
    LEFT JOIN LATERAL (
        SELECT f->>'name' AS name, f->>'content_id' AS content_id, (f->>'size')::bigint AS size
        FROM jsonb_array_elements(t.manifest->'files') AS f
        WHERE f->>'name' = t.manifest->'artwork'->>'name'
        LIMIT 1
    ) AS a ON true
"""


def _record(
    row: asyncpg.Record, licenses: list[LicenseWindow], manifest_json: str | None = None
) -> TitleRecord:
    artwork = None
    if row["artwork_name"] is not None:
        artwork = AssetFile(
            name=row["artwork_name"],
            content_id=row["artwork_content_id"],
            size=row["artwork_size"] or 0,
        )
    return TitleRecord(
        id=row["id"],
        name=row["name"],
        year=row["year"],
        genres=tuple(row["genres"]),
        maturity=row["maturity"],
        description=row["description"],
        duration_s=row["duration_s"],
        popularity=row["popularity"],
        published_at=row["published_at"],
        licenses=tuple(licenses),
        artwork=artwork,
        manifest_json=manifest_json,
    )


def _window(row: asyncpg.Record) -> LicenseWindow:
    return LicenseWindow(row["title_id"], row["country"], row["starts"], row["ends"])


class CatalogStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def known_ids(self) -> set[str]:
        return {r["id"] for r in await self.pool.fetch("SELECT id FROM titles")}

    async def publish(self, manifest: AssetManifest, raw: str) -> None:
        """Insert or replace a title from its asset manifest (`raw`: as ingest wrote it, kept
        whole for the Play API)."""
        metadata = manifest.metadata
        title_id = manifest.title_id
        windows = [
            (
                str(w["country"]).upper(),
                date.fromisoformat(w["start"]),
                date.fromisoformat(w["end"]),
            )
            for w in metadata.licenses
        ]  # KeyError / ValueError for a window that is not one, before anything is written
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
                metadata.title or title_id,
                metadata.year,
                list(metadata.genres),
                metadata.maturity,
                metadata.description,
                manifest.duration_s,
                metadata.popularity,
                raw,
                manifest.encoded_at,
            )
            await conn.execute("DELETE FROM licenses WHERE title_id = $1", title_id)
            for country, starts, ends in windows:
                await conn.execute(
                    "INSERT INTO licenses (title_id, country, starts, ends) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (title_id, country) DO UPDATE SET starts = EXCLUDED.starts,"
                    " ends = EXCLUDED.ends",
                    title_id,
                    country,
                    starts,
                    ends,
                )

    async def title(self, title_id: str, *, with_manifest: bool = False) -> TitleRecord:
        manifest = ", t.manifest::text AS manifest_json" if with_manifest else ""
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS}{manifest} FROM titles t {_ARTWORK} WHERE t.id = $1", title_id
        )
        if row is None:
            raise NotFoundError(f"no title {title_id!r}")
        licenses = await self._licenses([title_id])
        return _record(row, licenses.get(title_id, []), row.get("manifest_json"))

    async def _licenses(self, title_ids: list[str]) -> dict[str, list[LicenseWindow]]:
        rows = await self.pool.fetch(
            "SELECT * FROM licenses WHERE title_id = ANY($1::text[]) ORDER BY title_id, country",
            title_ids,
        )
        found: dict[str, list[LicenseWindow]] = {}
        for row in rows:
            found.setdefault(row["title_id"], []).append(_window(row))
        return found

    async def titles(
        self, *, country: str = "", genre: str = "", query: str = "", limit: int = 100
    ) -> list[TitleRecord]:
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
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM titles t {_ARTWORK} {where} {order}", *args
        )
        licenses = await self._licenses([r["id"] for r in rows])
        return [_record(r, licenses.get(r["id"], [])) for r in rows]


class AvailabilitySource:
    """Which titles cache control says are playable (`GET /v1/availability`)."""

    def __init__(self, client: ServiceHttpClient) -> None:
        self.client = client

    async def fetch(self) -> AvailabilitySnapshot:
        raw: Any = await self.client.get("/v1/availability")
        try:
            return AvailabilitySnapshot.model_validate(raw)
        except ValidationError as exc:
            raise UnavailableError(f"cache control's availability is not one: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()
