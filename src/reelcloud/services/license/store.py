"""Content keys, read from the origin's key bucket (never stored beside the segments), opened
with the KEK and kept in memory once read. License has no database: this is its only store."""

from __future__ import annotations

import logging

from reelcloud.platform.content_keys import is_sealed, seal, unseal
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.storage import KEYS_BUCKET, ObjectStore

log = logging.getLogger(__name__)


class ContentKeys:
    """Content keys by (title, key id)."""

    def __init__(self, origin: ObjectStore | None, kek: str) -> None:
        self.origin = origin
        self.kek = kek
        self._keys: dict[tuple[str, str], bytes] = {}

    async def get(self, title_id: str, key_id: str) -> bytes:
        cached = self._keys.get((title_id, key_id))
        if cached is None:
            if self.origin is None:
                raise NotFoundError("no key store configured")
            name = f"{title_id}/{key_id}.key"
            stored = await self.origin.get(KEYS_BUCKET, name)
            if is_sealed(stored):
                cached = unseal(self.kek, title_id, key_id, stored)
            else:
                # Written before keys were sealed: seal it in place, once.
                cached = stored
                await self.origin.put(KEYS_BUCKET, name, seal(self.kek, title_id, key_id, stored))
                log.warning("sealed the content key %s, stored bare by an older version", name)
            self._keys[(title_id, key_id)] = cached
        return cached
