"""The titles fill can place: read from their manifests on the origin, ranked by popularity."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from reelcloud.platform.assets import AssetManifest
from reelcloud.platform.errors import ReelcloudError

log = logging.getLogger(__name__)

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
    # What a play needs (every rung's HLS files and the audio); None: every file (a title
    # published without renditions, as tools and tests do, so it is never playable empty).
    playable: frozenset[str] | None = None

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def content_ids(self) -> frozenset[str]:
        return frozenset(f.content_id for f in self.files)

    @property
    def playable_ids(self) -> frozenset[str]:
        """What an OCA must hold before this title is offered for play."""
        return self.content_ids if self.playable is None else self.playable

    def is_new(self, now: float) -> bool:
        return now - self.published_at < NEW_TITLE_S

    @classmethod
    def from_manifest(cls, manifest: AssetManifest) -> Title:
        return cls(
            title_id=manifest.title_id,
            files=tuple(TitleFile(f.name, f.content_id, f.size) for f in manifest.files),
            popularity=manifest.metadata.popularity,
            published_at=manifest.encoded_at,
            playable=manifest.playable_content_ids() or None,
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


class ManifestSource(Protocol):
    """Where published titles' manifests are read (`platform.origin.PublishedTitles`)."""

    async def published(self) -> list[str]: ...

    async def manifest(self, title_id: str) -> AssetManifest: ...


class TitleCatalog:
    """Every published title on the origin; `refresh` reads manifests it has not seen yet."""

    def __init__(self) -> None:
        self.titles: dict[str, Title] = {}
        self.plays: dict[str, int] = {}
        self.refreshed_at = 0.0
        self.version = 0  # bumped whenever a title arrives or leaves

    async def refresh(self, source: ManifestSource) -> list[str]:
        found = []
        published = await source.published()
        for title_id in published:
            if title_id in self.titles:
                continue
            try:
                self.titles[title_id] = Title.from_manifest(await source.manifest(title_id))
            except (ReelcloudError, ValueError) as exc:  # pydantic's ValidationError included
                log.warning("skipping %s: unreadable manifest (%s)", title_id, exc)
                continue
            found.append(title_id)
        gone = set(self.titles) - set(published)  # withdrawn from the origin
        for title_id in gone:
            del self.titles[title_id]
        if found or gone:
            self.version += 1
        self.refreshed_at = time.time()
        if found:
            log.info("catalog: %d new titles (%d in all)", len(found), len(self.titles))
        return found

    def ranked(self) -> list[Title]:
        return rank(list(self.titles.values()), self.plays)
