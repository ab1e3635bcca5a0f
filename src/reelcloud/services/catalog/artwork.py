"""Title artwork for browse pages: the frame ingest grabbed (`artwork` in the asset manifest),
read from the origin once and kept in memory (a few tens of KB a title), answered with its
content id as ETag so browsers revalidate cheaply."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore

MAX_CACHED = 2_000


def artwork_entry(manifest: Any) -> dict[str, Any] | None:
    """The manifest's artwork with its content id, or None for titles ingested without one."""
    if isinstance(manifest, str):
        manifest = orjson.loads(manifest)
    artwork = manifest.get("artwork")
    if not artwork:
        return None
    for entry in manifest.get("files", []):
        if entry["name"] == artwork["name"]:
            return {**artwork, "content_id": entry["content_id"]}
    return None


def artwork_url(title_id: str) -> str:
    return f"/api/catalog/titles/{title_id}/artwork"


class ArtworkCache:
    """Artwork bytes by content id (immutable, so never stale), least recently used out."""

    def __init__(self, origin: ObjectStore | None, max_entries: int = MAX_CACHED) -> None:
        self.origin = origin
        self.max_entries = max_entries
        self._bytes: OrderedDict[str, bytes] = OrderedDict()

    async def get(self, title_id: str, entry: dict[str, Any]) -> bytes:
        content_id = entry["content_id"]
        data = self._bytes.get(content_id)
        if data is not None:
            self._bytes.move_to_end(content_id)
            return data
        if self.origin is None:
            raise NotFoundError("no origin configured: artwork is not available")
        data = await self.origin.get(ASSETS_BUCKET, f"titles/{title_id}/{entry['name']}")
        self._bytes[content_id] = data
        while len(self._bytes) > self.max_entries:
            self._bytes.popitem(last=False)
        return data
