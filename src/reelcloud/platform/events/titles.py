"""The events of a title's life in the catalog (the pipeline routes them to the lake)."""

from __future__ import annotations

from typing import ClassVar

from reelcloud.platform.events.schema import EventPayload


class TitleEncoded(EventPayload):
    event_type: ClassVar[str] = "title.encoded"
    title_id: str
    title: str
    manifest_key: str
    rungs: list[str]
    duration_s: float
