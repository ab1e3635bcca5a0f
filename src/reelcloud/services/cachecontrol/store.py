"""Where cache control's data comes from: the published titles' manifests on the origin. Its
other state (reports, plans, availability) lives in memory and is rebuilt from the OCAs'
reports after a restart (a restart asks every OCA for its full content list)."""

from __future__ import annotations

from reelcloud.platform.assets import AssetManifest, manifest_key
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore


class OriginManifests:
    def __init__(self, origin: ObjectStore) -> None:
        self.origin = origin

    async def published(self) -> list[str]:
        """Ids of the titles whose manifest is on the origin (its presence means published)."""
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
        return AssetManifest.parse(await self.origin.get(ASSETS_BUCKET, manifest_key(title_id)))
