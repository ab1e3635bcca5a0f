"""The titles fill can place: read from their manifests on the origin, ranked by popularity.

A title's files fall into its video renditions (each rung's HLS and DASH playlists, init
section and segments) and the rest (the audio track, manifests, artwork), which a play needs
whichever rung it streams. Fill places whole titles ranked by counted plays per title, or, once
plays are counted per (title, rung), one rendition at a time (`rank_units`): a rung nobody
watches takes no disk, and the rest of the title comes with its first rendition.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Protocol

from reelcloud.platform.assets import AssetManifest
from reelcloud.platform.errors import ReelcloudError

log = logging.getLogger(__name__)

NEW_TITLE_S = 24 * 3600  # a title this young is filled out of cycle, at any hour
# How many plays of a title it takes for its own mix of rungs to weigh as much as the catalog's.
RUNG_MIX_PRIOR_PLAYS = 20.0

# Plays counted per (title id, rung name as `rendition_key` gives it). Plays, or full-play
# equivalents (segments streamed at a rung over the title's segments): a count that grows with
# the bytes a rendition serves per byte it stores, whatever its bitrate (see `rank_units`).
Demand = Mapping[tuple[str, str], float]


def rendition_key(height: int) -> str:
    """The rendition a player streams, from the video height it reports (1080 -> "1080p"): the
    ladder's rung name (`encoding.ladder.Rung.name`, the manifest's `Rung.name`), written here
    because cache control may not import encoding; a unit test holds the two together."""
    return f"{height}p"


@dataclass(frozen=True)
class TitleFile:
    name: str
    content_id: str
    size: int


@dataclass(frozen=True)
class Rendition:
    """One video rung of a title: the files only a play of this rung reads."""

    name: str  # the rung, as `rendition_key` names it
    content_ids: frozenset[str]


@dataclass(frozen=True)
class Title:
    title_id: str
    files: tuple[TitleFile, ...]
    popularity: float
    published_at: float
    # What a play needs (every rung's HLS files and the audio); None: every file (a title
    # published without renditions, as tools and tests do, so it is never playable empty).
    playable: frozenset[str] | None = None
    # Each video rung's files; every other file comes with any of them (`base_ids`). Empty: the
    # title is placed whole (tools and tests publish titles without renditions).
    renditions: tuple[Rendition, ...] = ()

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

    @property
    def rendition_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.renditions)

    @cached_property
    def base_ids(self) -> frozenset[str]:
        """What comes with any rendition: the files no rung owns (audio, manifests, artwork)."""
        return self.content_ids.difference(*(r.content_ids for r in self.renditions))

    @cached_property
    def base_size(self) -> int:
        return sum(f.size for f in self.files if f.content_id in self.base_ids)

    @cached_property
    def rendition_sizes(self) -> dict[str, int]:
        return {
            r.name: sum(f.size for f in self.files if f.content_id in r.content_ids)
            for r in self.renditions
        }

    def with_renditions(self, names: Collection[str]) -> Title:
        """The part of this title an OCA holding these renditions has: their files and the
        base; what a play of one of them needs is `playable_ids`. Every rendition: the title."""
        kept = tuple(r for r in self.renditions if r.name in names)
        if len(kept) == len(self.renditions):
            return self
        ids = self.base_ids.union(*(r.content_ids for r in kept))
        return replace(
            self,
            files=tuple(f for f in self.files if f.content_id in ids),
            playable=self.playable_ids & ids,
            renditions=kept,
        )

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
            renditions=renditions_of(manifest),
        )


def renditions_of(manifest: AssetManifest) -> tuple[Rendition, ...]:
    """Each rung's files: its HLS files as the manifest names them (`content_ids`, less the
    audio), and its DASH ones, the clear playlist and ffmpeg's `seg-<representation>-` segments
    (encoding/ffmpeg.py; the manifest does not name them yet)."""
    audio = frozenset(manifest.content_ids([]))
    renditions = []
    for rung in manifest.rungs:
        dash = f"seg-{rung.representation_id}-"
        ids = frozenset(manifest.content_ids([rung.name])) - audio
        ids |= {
            f.content_id
            for f in manifest.files
            if f.name == rung.playlist or f.name.startswith(dash)
        }
        renditions.append(Rendition(rung.name, ids))
    return tuple(renditions)


def rank(titles: list[Title], plays: dict[str, int], now: float | None = None) -> list[Title]:
    """Most wanted first: new releases (nobody has counted their plays yet, and a release is
    watched most in its first days), then counted plays, seeded popularity, the newest."""
    at = time.time() if now is None else now
    return sorted(
        titles,
        key=lambda t: (t.is_new(at), plays.get(t.title_id, 0), t.popularity, t.published_at),
        reverse=True,
    )


@dataclass(frozen=True)
class FillUnit:
    """What placement adds to an OCA at once: one rendition of a title (with the title's base
    files, if the OCA has none of it yet), or the whole title."""

    title: Title
    rendition: str | None  # None: every file

    @property
    def renditions(self) -> frozenset[str]:
        return self.title.rendition_names if self.rendition is None else frozenset([self.rendition])


def rank_units(ranked: list[Title], demand: Demand, now: float | None = None) -> list[FillUnit]:
    """Most wanted first. Without per-rendition counts (a fresh platform): whole titles in
    `rank`'s order. With them: new releases, whole (nobody has counted them yet); then every
    rendition of a counted title by its expected plays (`expected_plays`); then those of the
    titles nobody played, by their title's rank and the catalog's plays of that rung.

    Plays, not plays per byte: a play streams about the same share of whichever rung it picks,
    so the bytes a rendition serves per byte it stores (what a full disk should maximise) are
    plays x watched share x size / size, the plays. Plays per byte would put 240p, a twelfth of
    the bytes of 1080p and as many bytes served per play, ahead of the 1080p that is watched.
    A first rendition also stores the base, which its plays read too (the audio is all of it
    but a few kB), so the same holds for it."""
    if not demand:
        return [FillUnit(title, None) for title in ranked]
    at = time.time() if now is None else now
    by_title: defaultdict[str, float] = defaultdict(float)
    by_rung: defaultdict[str, float] = defaultdict(float)
    for (title_id, rung), plays in demand.items():
        by_title[title_id] += plays
        by_rung[rung] += plays
    new = [FillUnit(t, None) for t in ranked if t.is_new(at)]
    counted: list[tuple[float, int, FillUnit]] = []
    uncounted: list[tuple[int, float, FillUnit]] = []
    for position, title in enumerate(ranked):
        if title.is_new(at):
            continue
        if not title.renditions:
            units = [(FillUnit(title, None), by_title[title.title_id])]
        else:
            expected = expected_plays(title, demand, by_title[title.title_id], by_rung)
            units = [(FillUnit(title, rung), plays) for rung, plays in expected.items()]
        for unit, plays in units:
            if plays > 0:
                counted.append((-plays, position, unit))
            else:
                uncounted.append((position, -by_rung[unit.rendition or ""], unit))
    counted.sort(key=lambda c: c[:2])
    uncounted.sort(key=lambda u: u[:2])
    return [*new, *(u for *_, u in counted), *(u for *_, u in uncounted)]


def expected_plays(
    title: Title, demand: Demand, plays: float, catalog: Mapping[str, float]
) -> dict[str, float]:
    """Tomorrow's plays of each rendition of a title its `plays` counted today: its own mix of
    rungs pulled towards the catalog's (`catalog`: plays per rung) by a prior worth
    RUNG_MIX_PRIOR_PLAYS plays. A title played a few times has a rung nobody happened to
    pick; with many plays its own mix wins (a cartoon watched on tablets keeps its 480p)."""
    mix = {r.name: catalog.get(r.name, 0.0) for r in title.renditions}
    seen = sum(mix.values()) or 1.0
    return {
        rung: plays
        * (demand.get((title.title_id, rung), 0.0) + RUNG_MIX_PRIOR_PLAYS * n / seen)
        / (plays + RUNG_MIX_PRIOR_PLAYS)
        for rung, n in mix.items()
    }


class ManifestSource(Protocol):
    """Where published titles' manifests are read (`platform.origin.PublishedTitles`)."""

    async def published(self) -> list[str]: ...

    async def manifest(self, title_id: str) -> AssetManifest: ...


class TitleCatalog:
    """Every published title on the origin; `refresh` reads manifests it has not seen yet."""

    def __init__(self) -> None:
        self.titles: dict[str, Title] = {}
        self.plays: dict[str, int] = {}
        # Plays per (title id, rung), from the stream jobs (`demand.py`); empty (nothing counted
        # yet, or no jobs service), fill places whole titles.
        self.rendition_plays: dict[tuple[str, str], float] = {}
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

    def count_plays(self, demand: Demand) -> bool:
        """Take plays counted per (title id, rung) in place of the last counts, and per title
        their sums (`rank`); True when they differ from the last."""
        counted = {key: plays for key, plays in demand.items() if plays > 0}
        if counted == self.rendition_plays:
            return False
        by_title: defaultdict[str, float] = defaultdict(float)
        for (title_id, _), plays in counted.items():
            by_title[title_id] += plays
        self.rendition_plays = counted
        self.plays = {title_id: round(plays) for title_id, plays in by_title.items()}
        return True

    def ranked(self, now: float | None = None) -> list[Title]:
        return rank(list(self.titles.values()), self.plays, now)
