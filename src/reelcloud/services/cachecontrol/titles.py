"""The titles fill can place: read from their manifests on the origin, ranked by popularity."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import orjson

from reelcloud.platform.errors import NotFoundError, ReelcloudError
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
NEW_TITLE_S = 24 * 3600  # a title this young is filled out of cycle, at any hour


@dataclass(frozen=True)
class TitleFile:
    name: str
    content_id: str
    size: int


@dataclass(frozen=True)
class Title:
    title_id: str
    files: tuple[TitleFile, ...]
    popularity: float
    published_at: float

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def content_ids(self) -> frozenset[str]:
        return frozenset(f.content_id for f in self.files)

    def is_new(self, now: float) -> bool:
        return now - self.published_at < NEW_TITLE_S

    @classmethod
    def from_manifest(cls, manifest: dict[str, object]) -> Title:
        files = manifest["files"]
        metadata = manifest.get("metadata") or {}
        assert isinstance(files, list)
        assert isinstance(metadata, dict)
        return cls(
            title_id=str(manifest["title_id"]),
            files=tuple(TitleFile(f["name"], f["content_id"], int(f["size"])) for f in files),
            popularity=float(metadata.get("popularity", 0.0)),
            published_at=float(manifest.get("encoded_at", 0.0)),  # type: ignore[arg-type]
        )


def rank(titles: list[Title], plays: dict[str, int], now: float | None = None) -> list[Title]:
    """Most wanted first: new releases (nobody has counted their plays yet, and a release is
    watched most in its first days), then counted plays, seeded popularity, the newest."""
    at = time.time() if now is None else now
    return sorted(
        titles,
        key=lambda t: (t.is_new(at), plays.get(t.title_id, 0), t.popularity, t.published_at),
        reverse=True,
    )


class TitleCatalog:
    """Every published title on the origin; `refresh` reads manifests it has not seen yet."""

    def __init__(self) -> None:
        self.titles: dict[str, Title] = {}
        self.plays: dict[str, int] = {}
        self.refreshed_at = 0.0

    async def refresh(self, store: ObjectStore) -> list[str]:
        found = []
        seen = set()
        try:
            listing = [info async for info in store.objects(ASSETS_BUCKET, "titles/")]
        except NotFoundError:
            return []  # no bucket yet: nothing has been published
        for info in listing:
            parts = info.key.split("/")
            if len(parts) != 3 or parts[2] != MANIFEST_NAME:
                continue
            title_id = parts[1]
            seen.add(title_id)
            if title_id in self.titles:
                continue
            try:
                manifest = orjson.loads(await store.get(ASSETS_BUCKET, info.key))
                self.titles[title_id] = Title.from_manifest(manifest)
            except (ReelcloudError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                log.warning("skipping %s: unreadable manifest (%s)", info.key, exc)
                continue
            found.append(title_id)
        for gone in set(self.titles) - seen:  # withdrawn from the origin
            del self.titles[gone]
        self.refreshed_at = time.time()
        if found:
            log.info("catalog: %d new titles (%d in all)", len(found), len(self.titles))
        return found

    def ranked(self) -> list[Title]:
        return rank(list(self.titles.values()), self.plays)
