"""SQL over the lake with DuckDB: each lake table is a view of the same name over its current
Iceberg metadata (which the router names), read from the S3 origin.

DuckDB is pinned to 1.4.x with its extensions (httpfs, avro, iceberg) from PyPI wheels, so it
never reaches for an extension host: `LOCAL_EXTENSIONS` is where those wheels put them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from reelcloud.platform.errors import BadRequestError

_VIEW = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def local_extensions() -> str:
    import duckdb_ext  # type: ignore[import-untyped]  # a namespace package of wheels

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def connect(
    tables: dict[str, str], s3_url: str, access_key: str, secret_key: str, region: str
) -> duckdb.DuckDBPyConnection:
    """A connection with a view per lake table (name → metadata location)."""
    db = duckdb.connect(
        config={"extension_directory": local_extensions(), "autoinstall_known_extensions": False}
    )
    for extension in ("httpfs", "avro", "iceberg"):
        db.load_extension(extension)
    endpoint = urlsplit(s3_url)
    db.execute(
        "CREATE SECRET lake (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path',"
        " USE_SSL ?)",
        [access_key, secret_key, region, endpoint.netloc, endpoint.scheme == "https"],
    )
    for name, metadata in tables.items():
        if not _VIEW.match(name):
            continue  # not a table the router makes
        location = metadata.replace("'", "''")
        db.execute(f"CREATE VIEW {name} AS SELECT * FROM iceberg_scan('{location}')")
    return db


def run(db: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of one statement; a statement DuckDB refuses is a bad request."""
    if not sql.strip():
        raise BadRequestError("no SQL given")
    try:
        result = db.execute(sql)
        columns = [column[0] for column in result.description or []]
        return columns, result.fetchall()
    except duckdb.Error as exc:
        raise BadRequestError(str(exc).splitlines()[0]) from exc
