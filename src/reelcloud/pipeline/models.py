"""Routes (the YAML an operator edits) and what the router reports about them."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_EVENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+(@[1-9][0-9]*)?$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ENVELOPE_COLUMNS = ("event_id", "event_type", "event_version", "event_time", "producer")


class Route(BaseModel):
    """Events of `events` (a type, or `type@version` for one version only) that pass `where`
    go to the lake table `lake`, with the payload fields `project` as columns (or the whole
    payload as JSON in a `payload` column when `project` is empty), and, when the route names
    a `topic`, onto that consumer Kafka topic too (keyed by the payload field `key`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    events: list[str] = Field(min_length=1)
    # field → the values it may have (any of them): {country: [US, CA]}.
    where: dict[str, list[str | int | float | bool]] = Field(default_factory=dict)
    project: list[str] = Field(default_factory=list)
    lake: str
    topic: str | None = None
    key: str | None = None

    @field_validator("name", "lake", "topic")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"{value!r}: lowercase letters, digits and _, starting a letter")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        for event in value:
            if not _EVENT.match(event):
                raise ValueError(f"{event!r} is no event type (domain.action, or @version)")
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _FIELD.match(name) or name in ENVELOPE_COLUMNS:
                raise ValueError(f"{name!r} cannot be a column")
        if len(set(value)) != len(value):
            raise ValueError("a field is projected twice")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not _FIELD.match(value):
            raise ValueError(f"{value!r} is no payload field")
        return value

    @model_validator(mode="after")
    def _key_needs_topic(self) -> Route:
        if self.key is not None and self.topic is None:
            raise ValueError("a key without a topic: the key is the topic records' key")
        return self

    @property
    def types(self) -> set[str]:
        return {event.split("@")[0] for event in self.events}

    def accepts(self, event_type: str, version: int) -> bool:
        return event_type in self.events or f"{event_type}@{version}" in self.events


class RoutesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: list[Route] = Field(min_length=1)

    @field_validator("routes")
    @classmethod
    def _unique(cls, value: list[Route]) -> list[Route]:
        names = [route.name for route in value]
        if len(set(names)) != len(names):
            raise ValueError("two routes share a name")
        tables: dict[str, Route] = {}
        for route in value:
            other = tables.setdefault(route.lake, route)
            if other.project != route.project:
                raise ValueError(
                    f"routes {other.name} and {route.name} write {route.lake} "
                    "with different columns"
                )
        return value


class RouteStatus(BaseModel):
    name: str
    events: list[str]
    lake: str
    topic: str | None  # None: no topic, or no Kafka configured (`topic_off` says which)
    topic_off: str | None
    delivered: int  # rows written to the lake
    published: int  # records written to the topic
    duplicates: int  # events the lake already held (redeliveries, replays)
    filtered: int  # events `where` left out
    dead_lettered: int
    errors: int  # failed sink writes (each retried)
    pending: int | None  # events in the stream this route has not acknowledged yet
    last_commit_at: float | None
    problem: str | None  # None while the route consumes, else why not


class PipelineStatus(BaseModel):
    routes: list[RouteStatus]
    routes_file: str
    routes_error: str | None  # why the last edit of the file was refused (the old routes run)


class LakeTable(BaseModel):
    name: str
    metadata_location: str


class LakeDescription(BaseModel):
    """What a query engine needs to read the lake: each table's current metadata file."""

    tables: list[LakeTable]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route: str
    since: float  # unix seconds


class ReplayResult(BaseModel):
    route: str
    read: int
    delivered: int
    duplicates: int
