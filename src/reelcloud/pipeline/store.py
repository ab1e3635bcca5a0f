"""The data lake: an Iceberg table per route target on the S3 origin, its catalog (pyiceberg's
SQL catalog) in the router's PostgreSQL database.

Every table has the envelope's columns, then the route's projected payload fields (typed from
the events' schemas; lists and objects as JSON text), or the whole payload as JSON. Tables are
partitioned by event type and hour of the event's own time, so an event always lands in the
same partition however often it is delivered: the lake is idempotent by checking each event id
against the ids its partition already holds (kept in memory for the partitions in use, read
from the lake for one touched again). A route that projects a new field adds a column; rows
written before read it as null.

pyiceberg is blocking: the router calls `write` in a worker thread, one route at a time.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import types
import typing
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.table import Table
from pyiceberg.transforms import HourTransform

from reelcloud.pipeline.models import Route
from reelcloud.platform.events import Envelope, EventPayload

log = logging.getLogger(__name__)

HOUR_US = 3_600_000_000
COMMIT_ATTEMPTS = 5
ENVELOPE_SCHEMA = [
    pa.field("event_id", pa.string()),
    pa.field("event_type", pa.string()),
    pa.field("event_version", pa.int32()),
    pa.field("event_time", pa.timestamp("us", tz="UTC")),
    pa.field("producer", pa.string()),
]
_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
}


def _arrow_type(annotation: Any) -> tuple[pa.DataType, bool]:
    """The column type of a payload field, and whether its values are stored as JSON text."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(kinds) == 1:
            return _arrow_type(kinds[0])
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    return pa.string(), True


@dataclass(frozen=True)
class Columns:
    """How a route's events become rows."""

    schema: pa.Schema
    json_fields: frozenset[str]  # projected fields kept as JSON text
    project: tuple[str, ...]  # empty: the payload as JSON in `payload`

    @classmethod
    def of(cls, route: Route, known: dict[str, type[EventPayload]]) -> Columns:
        fields = list(ENVELOPE_SCHEMA)
        as_json = set()
        if not route.project:
            fields.append(pa.field("payload", pa.string()))
        for name in route.project:
            annotation: Any = str
            for event_type in sorted(route.types):
                model = known.get(event_type)
                if model is not None and name in model.model_fields:
                    annotation = model.model_fields[name].annotation
                    break
            kind, is_json = _arrow_type(annotation)
            fields.append(pa.field(name, kind))
            if is_json:
                as_json.add(name)
        return cls(pa.schema(fields), frozenset(as_json), tuple(route.project))

    def table(self, envelopes: list[Envelope]) -> pa.Table:
        data: dict[str, list[Any]] = {
            "event_id": [e.id for e in envelopes],
            "event_type": [e.type for e in envelopes],
            "event_version": [e.version for e in envelopes],
            "event_time": [int(e.time * 1_000_000) for e in envelopes],
            "producer": [e.producer for e in envelopes],
        }
        if not self.project:
            data["payload"] = [orjson.dumps(e.payload).decode() for e in envelopes]
        for name in self.project:
            values = [e.payload.get(name) for e in envelopes]
            if name in self.json_fields:
                values = [None if v is None else orjson.dumps(v).decode() for v in values]
            data[name] = values
        return pa.Table.from_pydict(data, schema=self.schema)


def catalog_uri(database_url: str) -> str:
    """SQLAlchemy's form of a PostgreSQL URL (the platform's are libpq's)."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise ValueError(f"the lake's catalog needs PostgreSQL, not {parts.scheme}")
    return urlunsplit(("postgresql+psycopg2", *parts[1:]))


@dataclass(frozen=True)
class Compaction:
    table: str
    event_type: str
    hour: int  # since the epoch
    files: int  # before; one after
    rows: int


class Lake:
    def __init__(
        self,
        database_url: str,
        s3_url: str,
        access_key: str,
        secret_key: str,
        region: str,
        bucket: str,
        namespace: str,
        dedup_partitions: int,
    ) -> None:
        self.namespace = namespace
        self.catalog = SqlCatalog(
            "reelcloud",
            uri=catalog_uri(database_url),
            warehouse=f"s3://{bucket}/warehouse",
            **{
                "s3.endpoint": s3_url,
                "s3.access-key-id": access_key,
                "s3.secret-access-key": secret_key,
                "s3.region": region,
                "s3.force-virtual-addressing": "false",
            },
        )
        with contextlib.suppress(NamespaceAlreadyExistsError):
            self.catalog.create_namespace(namespace)
        self._tables: dict[str, Table] = {}
        self._ids: OrderedDict[tuple[str, str, int], set[str]] = OrderedDict()
        self._dedup_partitions = dedup_partitions
        self._lock = threading.Lock()  # routes share tables and the id cache

    def table(self, name: str, columns: Columns) -> Table:
        """The table, created or given the route's new columns as needed."""
        table = self._tables.get(name)
        if table is None:
            identifier = f"{self.namespace}.{name}"
            try:
                table = self.catalog.load_table(identifier)
            except NoSuchTableError:
                try:
                    table = self.catalog.create_table(identifier, schema=columns.schema)
                    with table.update_spec() as spec:
                        spec.add_identity("event_type")
                        spec.add_field("event_time", HourTransform(), "event_hour")
                except TableAlreadyExistsError:  # another router made it first
                    table = self.catalog.load_table(identifier)
            self._tables[name] = table
        present = {field.name for field in table.schema().fields}
        if any(field.name not in present for field in columns.schema):
            with table.update_schema() as update:
                update.union_by_name(columns.schema)
            log.info("lake table %s: new columns %s", name,
                     sorted(set(columns.schema.names) - present))  # fmt: skip
        return table

    def _known_ids(self, table: Table, key: tuple[str, str, int]) -> set[str]:
        known = self._ids.get(key)
        if known is not None:
            self._ids.move_to_end(key)
            return known
        _, event_type, hour = key
        start = datetime.datetime.fromtimestamp(hour * 3600, datetime.UTC)
        end = start + datetime.timedelta(hours=1)
        rows = table.scan(  # event types are checked names: nothing to escape
            row_filter=f"event_type == '{event_type}' and event_time >= '{start.isoformat()}'"
            f" and event_time < '{end.isoformat()}'",
            selected_fields=("event_id",),
        ).to_arrow()
        known = set(rows.column("event_id").to_pylist())
        self._ids[key] = known
        while len(self._ids) > self._dedup_partitions:
            self._ids.popitem(last=False)
        return known

    def write(self, name: str, columns: Columns, envelopes: list[Envelope]) -> tuple[int, int]:
        """Appends the events the table does not hold yet; (written, duplicates)."""
        with self._lock:
            table = self.table(name, columns)
            fresh: list[Envelope] = []
            added: list[tuple[set[str], str]] = []
            batch_ids: set[str] = set()
            for envelope in envelopes:
                key = (name, envelope.type, int(envelope.time * 1_000_000) // HOUR_US)
                known = self._known_ids(table, key)
                if envelope.id in known or envelope.id in batch_ids:
                    continue
                batch_ids.add(envelope.id)
                fresh.append(envelope)
                added.append((known, envelope.id))
            if fresh:
                self._append(table, columns.table(fresh))
            for known, event_id in added:  # only once the commit stands
                known.add(event_id)
            return len(fresh), len(envelopes) - len(fresh)

    def _append(self, table: Table, rows: pa.Table) -> None:
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                table.append(rows)
                return
            except CommitFailedException:  # another writer committed first: retry on its
                if attempt == COMMIT_ATTEMPTS:
                    raise
                table.refresh()

    def compact(self, name: str, min_files: int, before_hour: int) -> list[Compaction]:
        """Rewrites each partition of the table older than `before_hour` (hours since the
        epoch: closed, late events aside) that is spread over `min_files` data files or more
        as one file, in one snapshot (a batch a commit makes many small files; readers open
        each). Writes wait meanwhile: they share the lock, so no commit can come between the
        read and the rewrite (another router's would make the rewrite fail: tried next time)."""
        done: list[Compaction] = []
        with self._lock:
            table = self._tables.get(name)
            if table is None:
                try:
                    table = self.catalog.load_table(f"{self.namespace}.{name}")
                except NoSuchTableError:  # nothing written to it yet
                    return done
            table.refresh()
            spread: dict[tuple[str, int], int] = {}
            for row in table.inspect.files().select(["content", "partition"]).to_pylist():
                partition = row["partition"]
                if row["content"] == 0 and partition["event_hour"] < before_hour:
                    at = (partition["event_type"], partition["event_hour"])
                    spread[at] = spread.get(at, 0) + 1
            for (event_type, hour), files in sorted(spread.items()):
                if files < min_files:
                    continue
                start = datetime.datetime.fromtimestamp(hour * 3600, datetime.UTC)
                end = start + datetime.timedelta(hours=1)
                where = (f"event_type == '{event_type}' and event_time >= '{start.isoformat()}'"
                         f" and event_time < '{end.isoformat()}'")  # fmt: skip
                rows = table.scan(row_filter=where).to_arrow()
                table.overwrite(rows, overwrite_filter=where)
                done.append(Compaction(name, event_type, hour, files, rows.num_rows))
                log.info("lake table %s: %s at hour %d compacted, %d files into one (%d rows)",
                         name, event_type, hour, files, rows.num_rows)  # fmt: skip
        return done

    def describe(self) -> dict[str, str]:
        """Table name → its current metadata file (what DuckDB's iceberg_scan reads)."""
        found = {}
        for _, name in self.catalog.list_tables(self.namespace):
            found[name] = self.catalog.load_table(f"{self.namespace}.{name}").metadata_location
        return found
