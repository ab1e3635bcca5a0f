"""Each service's own PostgreSQL database, schema applied at start.

On one machine the launcher makes each database service (`database: true` in the topology)
its database `reelcloud_<service>` and a role of the same name that owns it and alone may
connect, and hands the service that role's URL (`REELCLOUD_DATABASE_URL`), as with one server
per service at scale. Given a server's URL instead (a deployment's), a service creates its
database on first use. Schemas are idempotent DDL run under an advisory lock, so several
instances starting together apply them once.

A database that cannot be reached while a request runs (stopped, restarting, out of
connections, the pool closed under it) is `database_unavailable`'s to recognise: the service's
boundaries (platform.app's error middleware, platform.rpc's interceptor) answer it as a 503
`<service>_unavailable` or gRPC UNAVAILABLE, never as a 500.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from reelcloud.platform.errors import ConfigurationError, UnavailableError
from reelcloud.platform.settings import Settings

# The driver's errors that mean "no database to talk to now", not "this query is wrong":
# connection exceptions (SQLSTATE class 08), operator intervention (57: shutdown, crash,
# cannot connect now) and insufficient resources (53: too many connections).
_UNREACHABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InsufficientResourcesError,
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,  # connecting, or waiting for a connection from the pool
)
_NETWORK_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ETIMEDOUT})


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, _UNREACHABLE):
        return True
    if isinstance(exc, asyncpg.InterfaceError):  # a closed pool or connection, not misuse
        return "clos" in str(exc)
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def database_unavailable(exc: BaseException, service: str) -> UnavailableError | None:
    """The 503 for an error that says the database cannot be reached now (itself or one it
    was raised from), None for any other error."""
    seen: BaseException | None = exc
    for _ in range(8):  # the chain is short; a cycle must not hang a handler
        if seen is None:
            return None
        if _unreachable(seen):
            error = UnavailableError(
                f"{service} cannot reach its database; try again shortly",
                code=f"{service}_unavailable",
            )
            error.__cause__ = exc
            return error
        seen = seen.__cause__ or seen.__context__
    return None


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
