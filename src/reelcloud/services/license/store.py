"""Content keys, read from the origin's key bucket (never stored beside the segments) and kept
in memory once read. License has no database: this is its only store."""

from __future__ import annotations

from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.storage import KEYS_BUCKET, ObjectStore


class ContentKeys:
    """Content keys by (title, key id)."""

    def __init__(self, origin: ObjectStore | None) -> None:
        self.origin = origin
        self._keys: dict[tuple[str, str], bytes] = {}

    async def get(self, title_id: str, key_id: str) -> bytes:
        cached = self._keys.get((title_id, key_id))
        if cached is None:
            if self.origin is None:
                raise NotFoundError("no key store configured")
            cached = await self.origin.get(KEYS_BUCKET, f"{title_id}/{key_id}.key")
            self._keys[(title_id, key_id)] = cached
        return cached
