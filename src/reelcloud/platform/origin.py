"""The origin as ingest leaves it: a title is published once its manifest is in the assets
bucket (`titles/<id>/manifest.json`, written last), beside its files."""

from __future__ import annotations

from reelcloud.platform.assets import AssetManifest, manifest_key
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore


class PublishedTitles:
    def __init__(self, origin: ObjectStore) -> None:
        self.origin = origin

    async def published(self) -> list[str]:
        """Ids of the titles whose manifest is on the origin."""
        try:
            keys = [info.key async for info in self.origin.objects(ASSETS_BUCKET, "titles/")]
        except NotFoundError:
            return []  # no bucket yet: nothing has been published
        ids = []
        for key in keys:
            parts = key.split("/")
            if len(parts) == 3 and key == manifest_key(parts[1]):
                ids.append(parts[1])
        return ids

    async def manifest(self, title_id: str) -> AssetManifest:
        """The title's manifest (ValueError when it is not one)."""
        return (await self.stored_manifest(title_id))[0]

    async def stored_manifest(self, title_id: str) -> tuple[AssetManifest, str]:
        """The manifest parsed and as stored (for a copy kept verbatim)."""
        raw = (await self.origin.get(ASSETS_BUCKET, manifest_key(title_id))).decode()
        return AssetManifest.parse(raw), raw

    async def file(self, title_id: str, name: str) -> bytes:
        return await self.origin.get(ASSETS_BUCKET, f"titles/{title_id}/{name}")
