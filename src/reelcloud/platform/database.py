"""Each service's own PostgreSQL database, schema applied at start.

On one machine the launcher makes each database service (`database: true` in the topology)
its database `reelcloud_<service>` and a role of the same name that owns it and alone may
connect, and hands the service that role's URL (`REELCLOUD_DATABASE_URL`), as with one server
per service at scale. Given a server's URL instead (a deployment's), a service creates its
database on first use. Schemas are idempotent DDL run under an advisory lock, so several
instances starting together apply them once.
"""

from __future__ import annotations

import contextlib
import hashlib
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from reelcloud.platform.errors import ConfigurationError, UnavailableError
from reelcloud.platform.settings import Settings


def database_name(service: str) -> str:
    """The database (and, embedded, the role) of a service."""
    return f"reelcloud_{service.replace('-', '_')}"


def database_url(server_url: str, database: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + database))


async def ensure_database(server_url: str, database: str) -> None:
    conn = await asyncpg.connect(server_url, timeout=5)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Another instance may create it at the same moment.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def open_database(settings: Settings, name: str, schema: str) -> asyncpg.Pool:
    """A connection pool to this service's database, its schema applied."""
    if settings.database_url is None:
        raise ConfigurationError(f"{name} needs PostgreSQL: REELCLOUD_DATABASE_URL is not set")
    database = database_name(name)
    server = settings.database_url.get_secret_value()
    try:
        await ensure_database(server, database)
        pool = await asyncpg.create_pool(
            database_url(server, database), min_size=1, max_size=10, timeout=5
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise UnavailableError(f"database {database} unreachable: {exc}") from exc
    lock = int.from_bytes(hashlib.sha256(database.encode()).digest()[:8], "big", signed=True)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
        await conn.execute(schema)
    return pool
