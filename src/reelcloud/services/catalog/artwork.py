"""Title artwork for browse pages: the frame ingest grabbed (`artwork` in the asset manifest),
read from the origin once and kept in memory (a few tens of KB a title), answered with its
content id as ETag so browsers revalidate cheaply."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from reelcloud.platform.assets import AssetFile
from reelcloud.platform.errors import NotFoundError

MAX_CACHED = 2_000


def artwork_url(title_id: str) -> str:
    return f"/api/catalog/titles/{title_id}/artwork"


class FileSource(Protocol):
    """A title's files on the origin (`platform.origin.PublishedTitles`)."""

    async def file(self, title_id: str, name: str) -> bytes: ...


class ArtworkCache:
    """Artwork bytes by content id (immutable, so never stale), least recently used out."""

    def __init__(self, origin: FileSource | None, max_entries: int = MAX_CACHED) -> None:
        self.origin = origin
        self.max_entries = max_entries
        self._bytes: OrderedDict[str, bytes] = OrderedDict()

    async def get(self, title_id: str, artwork: AssetFile) -> bytes:
        data = self._bytes.get(artwork.content_id)
        if data is not None:
            self._bytes.move_to_end(artwork.content_id)
            return data
        if self.origin is None:
            raise NotFoundError("no origin configured: artwork is not available")
        data = await self.origin.file(title_id, artwork.name)
        self._bytes[artwork.content_id] = data
        while len(self._bytes) > self.max_entries:
            self._bytes.popitem(last=False)
        return data
