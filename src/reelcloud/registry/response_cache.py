"""Encoded registry documents, built once per change instead of once per fetch.

Eureka keeps a read-write cache (built on demand, invalidated when the registry changes) and
a read-only cache copied from it on a timer, which is what clients are served by default. Here
the read-write layer keys every entry on the registry's generation, so a change invalidates
without a list of keys to evict; the read-only layer is on when
`response_cache_update_interval_s > 0`.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from reelcloud.platform.clock import Clock
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.eureka import Application, Applications, json_codec, xml_codec
from reelcloud.registry.service import InstanceRegistry


class Format(StrEnum):
    JSON = "application/json"
    XML = "application/xml"


@dataclass(frozen=True, slots=True)
class Key:
    kind: str  # "apps", "delta", "app:NAME", "vip:NAME", "svip:NAME"
    format: Format
    gzip: bool


@dataclass(slots=True)
class _Entry:
    generation: int
    built_at: float
    body: bytes


def encode(document: Application | Applications, fmt: Format) -> bytes:
    if isinstance(document, Application):
        if fmt is Format.JSON:
            return json_codec.encode_application(document)
        return xml_codec.encode_application(document)
    if fmt is Format.JSON:
        return json_codec.encode_applications(document)
    return xml_codec.encode_applications(document)


class ResponseCache:
    def __init__(
        self,
        registry: InstanceRegistry,
        clock: Clock,
        *,
        expiry_s: float,
        read_only_update_interval_s: float,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._expiry_s = expiry_s
        self._use_read_only = read_only_update_interval_s > 0
        self._read_write: dict[Key, _Entry] = {}
        self._read_only: dict[Key, bytes] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> bytes:
        if self._use_read_only:
            body = self._read_only.get(key)
            if body is None:
                body = self._read_only[key] = self._from_read_write(key)
            else:
                self.hits += 1
            return body
        return self._from_read_write(key)

    def refresh_read_only(self) -> None:
        """Copy current read-write values into the read-only layer (Eureka's 30 s timer)."""
        for key in list(self._read_only):
            try:
                self._read_only[key] = self._from_read_write(key)
            except NotFoundError:
                # The application is gone: forget it, so the next read answers 404 (Eureka's
                # empty payload), and keep refreshing the other keys.
                del self._read_only[key]

    def _from_read_write(self, key: Key) -> bytes:
        now = self._clock.monotonic()
        entry = self._read_write.get(key)
        if (
            entry is not None
            and entry.generation == self._registry.generation
            and now - entry.built_at < self._expiry_s
        ):
            self.hits += 1
            return entry.body
        self.misses += 1
        body = encode(self._build(key.kind), key.format)
        if key.gzip:
            body = gzip.compress(body, compresslevel=5)
        # Read the generation after building: building the delta may trim old changes.
        self._read_write[key] = _Entry(self._registry.generation, now, body)
        return body

    def _build(self, kind: str) -> Application | Applications:
        builders: dict[str, Callable[[], Applications]] = {
            "apps": self._registry.applications,
            "delta": self._registry.delta,
        }
        if kind in builders:
            return builders[kind]()
        prefix, _, name = kind.partition(":")
        if prefix == "app":
            return self._registry.application(name)
        return self._registry.by_vip(name, secure=prefix == "svip")
