"""Offload benchmark: the share of a simulated day's bytes served from an embedded OCA, the IXP
and the origin, when the embedded OCA is filled by popularity (the project's `rank` and
`placement`, fed the previous day's counted plays) and when it is instead a pull-through LRU
cache of the same size (the baseline). Netflix reports ~95 % of its traffic over direct
connections; the embedded share is the part that never leaves the ISP.

World: one ISP site with one embedded offload OCA (a second OCA in the same site would get the
same placement, so it adds throughput, not distinct titles) whose disk is a fraction of the
catalog's bytes (5, 10, 20 and 40 %), and one IXP site whose storage OCA is sized for the whole
catalog, with the default fill rate (50 MB/s). Titles carry the project's ladder (240p-1080p,
one file per rung, each a `Rendition`, and one audio track, the title's base) over a lognormal
runtime (median 50 min, so a full set of renditions is ~4 GB).

Demand: Zipf(s) popularity over the catalog. Each day every title's log-popularity takes a
Gaussian step and the Zipf weights are re-dealt by the new order, so today's ranks drift from
yesterday's; a few new titles are released at random hours with a popularity drawn among the
top 200. Play start times follow an evening-peaked daily curve; a play streams one rendition
(weighted to 1080p, the same mix for every title) plus the audio track from the start for a
random share of the runtime. Plays are counted per title and per (title, rung), the rung named
by `rendition_key` from the height the player streams. Day 0 only counts plays; day 1 warms
every strategy; the last day is measured.

Popularity fill: at the start of each day (the fill window, off-peak: its budget at the fill
rate is reported next to the bytes filled) the embedded OCA takes what `placement` gives it.
"rendition" (the project's fill, the headline) passes yesterday's plays per (title, rung):
placement ranks single renditions by their expected plays and a title's audio comes with its
first one. "popularity" passes only yesterday's plays per title: whole titles, every rendition,
as placement does on a platform that counts no renditions. A new title is on the IXP once
filled from the origin at the fill rate (its plays go to the origin until then); cache control
replans at once (a new release ranks first, whole) and the embedded OCA fills it from the IXP
only if the plan picks it. A play is embedded bytes if the embedded OCA holds its rendition and
the audio, else IXP bytes, else origin bytes. "rendition_hindsight" and "hindsight" run the
same placements fed the day's own plays: the best a once-a-day fill could do, so a strategy
minus its hindsight is the cost of prediction.

LRU (the baseline, "lru"): the embedded OCA caches 64 MiB chunks of the files a play reads (a
range-slicing proxy: only the watched prefix of the watched rendition is stored), evicting the
least recently used chunks; a hit is embedded bytes, a miss is fetched from the IXP (or the
origin, for a title not there yet) and inserted. "lru_title" caches whole titles, every
rendition, the unit whole-title placement works in, so it separates the policy from the
granularity.

    python benchmarks/offload.py [--quick]

The last line printed is one JSON object with the headline figures (shares of bytes served) at
20 % capacity for "rendition", `sweep` (every strategy's embedded share at each capacity) and
`offload_vs_lru_min`: the smallest margin of "rendition" over "lru" across the capacities, in
percentage points.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
from reelcloud.encoding.ladder import AUDIO_KBPS, CANDIDATES
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.cachecontrol.planning import placement
from reelcloud.services.cachecontrol.titles import (
    Rendition,
    Title,
    TitleFile,
    rank,
    rendition_key,
)

SEED = 20240611
DAY_S = 86_400
EPOCH = 1_700_000_000.0  # the published_at of the first day's midnight
ZIPF_S = 1.0
DRIFT_SIGMA = 0.3  # daily Gaussian step of each title's log-popularity
NEW_TITLE_TOP_RANK = 200  # a new title enters at a log-uniform rank in 1..200
RUNTIME_MEDIAN_S = 50 * 60
RUNTIME_SIGMA = 0.5
CHUNK_BYTES = 64 * 2**20
HEADLINE_CAPACITY = 0.20
CAPACITIES = (0.05, 0.10, 0.20, 0.40)  # embedded disk as a fraction of the catalog's bytes
EMBEDDED, IXP = "oca-isp-1", "oca-ixp-1"
STRATEGIES = ("rendition", "rendition_hindsight", "popularity", "hindsight", "lru", "lru_title")
# Share of plays per rendition (by the ladder's order, 240p first): mostly big screens.
RENDITION_WEIGHTS = (0.05, 0.07, 0.13, 0.25, 0.50)
# Plays starting in each local hour: a trough before dawn, the peak at 20-22 h.
HOURLY = (
    *(3, 2, 1.5, 1, 1, 1, 1.5, 2, 2.5, 3, 3.5, 4),  # 00-11 h
    *(4.5, 4.5, 4.5, 5, 5.5, 6.5, 8, 9.5, 10, 9, 7, 5),  # 12-23 h
)


@dataclass(frozen=True)
class Scale:
    titles: int
    new_per_day: int
    plays_per_day: int
    days: int = 3


FULL = Scale(titles=4_000, new_per_day=8, plays_per_day=250_000)
QUICK = Scale(titles=1_500, new_per_day=4, plays_per_day=40_000)


@dataclass(frozen=True)
class Play:
    at_s: float
    title: int  # index into the title list
    video: int  # index of the streamed rendition in the title's files; the audio is last
    watched: float  # share of the runtime streamed, from the start


@dataclass
class Tally:
    embedded: int = 0
    ixp: int = 0
    origin: int = 0
    new_embedded: int = 0  # bytes of titles released that day, served from the embedded OCA
    new_total: int = 0
    fill: int = 0  # bytes brought onto the embedded OCA

    def add(self, where: str, count: int, new: bool) -> None:
        setattr(self, where, getattr(self, where) + count)
        if new:
            self.new_total += count
            self.new_embedded += count if where == "embedded" else 0

    def shares(self) -> dict[str, float]:
        total = self.embedded + self.ixp + self.origin
        return {
            "embedded_share": round(self.embedded / total, 4),
            "ixp_share": round(self.ixp / total, 4),
            "origin_share": round(self.origin / total, 4),
            "new_titles_bytes_share": round(self.new_total / total, 4),
            "new_titles_embedded_share": round(self.new_embedded / max(1, self.new_total), 4),
            "fill_bytes": self.fill,
            "fill_bytes_per_served_byte": round(self.fill / total, 4),
        }


# ---- the world ---------------------------------------------------------------------------------


def make_title(rng: random.Random, index: int, released_s: float) -> Title:
    runtime_s = min(
        4 * 3600, max(300, rng.lognormvariate(math.log(RUNTIME_MEDIAN_S), RUNTIME_SIGMA))
    )
    rates = [(rung.name, rung.video_kbps) for rung in CANDIDATES] + [("audio", AUDIO_KBPS)]
    title_id = f"t{index:05d}"
    files = tuple(
        TitleFile(
            name=f"{name}.mp4",
            content_id=hashlib.sha256(f"{title_id}/{name}".encode()).hexdigest(),
            size=int(runtime_s * kbps * 125),
        )
        for name, kbps in rates
    )
    renditions = tuple(
        Rendition(rung.name, frozenset([f.content_id]))
        for rung, f in zip(CANDIDATES, files[:-1], strict=True)
    )  # the audio, last, is the title's base: it comes with any of them
    return Title(
        title_id, files, popularity=0.0, published_at=EPOCH + released_s, renditions=renditions
    )


def openconnect(embedded_bytes: int, catalog_bytes: int) -> OpenConnectConfig:
    def oca(oca_id: str, site: str, address: str, kind: str, capacity: int) -> dict[str, Any]:
        return {
            "id": oca_id,
            "site": site,
            "address": address,
            "kind": kind,
            "capacity_bytes": capacity,
        }

    return OpenConnectConfig.model_validate(
        {
            "signing_keys": {"k1": "benchmark-url-key"},
            "report_secret": "benchmark-report-secret-0123",
            "origin_oca": IXP,
            "isps": [{"name": "isp-1", "prefixes": ["10.0.0.0/8"]}],
            "sites": [
                {"name": "isp-1-a", "kind": "embedded", "isp": "isp-1", "upstreams": ["ixp-1"]},
                {"name": "ixp-1", "kind": "ixp", "prefixes": ["0.0.0.0/0"]},
            ],
            "ocas": [
                oca(EMBEDDED, "isp-1-a", "10.255.0.1", "offload", embedded_bytes),
                oca(IXP, "ixp-1", "192.0.2.1", "storage", 2 * catalog_bytes),
            ],
        }
    )


@dataclass
class World:
    titles: list[Title]
    released_s: list[float]  # when each title reached the origin (negative: before day 0)
    days: list[list[Play]]  # every day's plays in time order
    counts: list[Counter[str]]  # every day's plays per title id
    rendition_counts: list[Counter[tuple[str, str]]]  # and per (title id, rung)
    fill_rate: int  # bytes/s of every OCA's fill

    def new_on(self, day: int, index: int) -> bool:
        return day * DAY_S <= self.released_s[index] < (day + 1) * DAY_S


def build_world(rng: random.Random, scale: Scale) -> World:
    titles = [make_title(rng, i, -DAY_S * rng.uniform(2, 3000)) for i in range(scale.titles)]
    released = [t.published_at - EPOCH for t in titles]
    order = list(range(scale.titles))
    rng.shuffle(order)
    log_pop = {i: -ZIPF_S * math.log(r + 1) for r, i in enumerate(order)}
    days: list[list[Play]] = []
    for day in range(scale.days):
        for i in log_pop:
            log_pop[i] += rng.gauss(0.0, DRIFT_SIGMA)
        releases = sorted(day * DAY_S + rng.uniform(0, 20 * 3600) for _ in range(scale.new_per_day))
        for at_s in releases:
            index = len(titles)
            titles.append(make_title(rng, index, at_s))
            released.append(at_s)
            log_pop[index] = -ZIPF_S * rng.uniform(0, math.log(NEW_TITLE_TOP_RANK))
        # Today's weights: the Zipf curve dealt out by today's order of log-popularity.
        by_popularity = sorted(log_pop, key=log_pop.__getitem__, reverse=True)
        weight = {i: (r + 1) ** -ZIPF_S for r, i in enumerate(by_popularity)}
        hours = rng.choices(range(24), weights=HOURLY, k=scale.plays_per_day)
        starts = sorted(day * DAY_S + h * 3600 + rng.random() * 3600 for h in hours)
        plays: list[Play] = []
        bounds = [*releases, (day + 1) * DAY_S]
        lo = 0
        for bound in bounds:  # between releases the set of playable titles is fixed
            hi = bisect.bisect_left(starts, bound, lo)
            playable = [i for i in weight if released[i] <= starts[lo]] if hi > lo else []
            chosen = rng.choices(playable, weights=[weight[i] for i in playable], k=hi - lo)
            videos = rng.choices(range(len(CANDIDATES)), weights=RENDITION_WEIGHTS, k=hi - lo)
            for at_s, title, video in zip(starts[lo:hi], chosen, videos, strict=True):
                plays.append(Play(at_s, title, video, watched_share(rng)))
            lo = hi
        days.append(plays)
        print(
            f"day {day}: {len(plays):,} plays over {len(weight):,} titles",
            file=sys.stderr,
            flush=True,
        )
    counts = [Counter(titles[p.title].title_id for p in plays) for plays in days]
    # What a player reports is the height it streams; cache control keys it by rung name.
    rendition_counts = [
        Counter(
            (titles[p.title].title_id, rendition_key(CANDIDATES[p.video].height)) for p in plays
        )
        for plays in days
    ]
    fill_rate = openconnect(1, 1).oca(EMBEDDED).fill_rate_bytes_per_s
    return World(titles, released, days, counts, rendition_counts, fill_rate)


def watched_share(rng: random.Random) -> float:
    if rng.random() < 0.25:
        return rng.uniform(0.01, 0.1)  # sampled and abandoned
    return min(1.0, rng.triangular(0.2, 1.0, 1.0))


def play_files(title: Title, play: Play) -> Iterator[tuple[int, int]]:
    """(file index, bytes streamed) of one play: its video rendition and the audio track."""
    for index in (play.video, len(title.files) - 1):
        yield index, int(title.files[index].size * play.watched)


# ---- the strategies ----------------------------------------------------------------------------


def popularity_fill(
    world: World, config: OpenConnectConfig, hindsight: bool, per_rendition: bool
) -> Tally:
    """Bytes by source on the last day, the embedded OCA filled by `placement`: whole titles
    ranked by plays per title, or (per_rendition) renditions ranked by plays per rung. A play
    is served from the embedded OCA when it holds the play's rendition and the audio."""
    tally = Tally()
    last = len(world.days) - 1
    held: dict[tuple[int, int], float] = {}  # (title, file) -> when servable on the embedded OCA
    where_is = {
        f.content_id: (i, j) for i, t in enumerate(world.titles) for j, f in enumerate(t.files)
    }
    ixp_ready = [
        r + t.size / world.fill_rate for t, r in zip(world.titles, world.released_s, strict=True)
    ]
    for day in range(1, len(world.days)):
        counted_day = day if hindsight else day - 1
        counted = world.counts[counted_day]
        demand = world.rendition_counts[counted_day] if per_rendition else None
        start = day * DAY_S

        def plan(
            now_s: float,
            counted: Counter[str] = counted,
            demand: Counter[tuple[str, str]] | None = demand,
        ) -> dict[tuple[int, int], int]:
            """The files the embedded OCA should hold now, and their sizes."""
            released = [
                t for t, r in zip(world.titles, world.released_s, strict=True) if r <= now_s
            ]
            now = EPOCH + now_s
            chosen = placement(config, rank(released, counted, now=now), demand, now=now)
            assert sum(t.size for t in chosen[IXP]) == sum(t.size for t in released), (
                "the IXP storage OCA holds every title whole"
            )
            return {where_is[f.content_id]: f.size for t in chosen[EMBEDDED] for f in t.files}

        wanted = plan(start)  # the fill window: done before the day's demand
        fill = sum(size for unit, size in wanted.items() if unit not in held)
        held = {unit: held.get(unit, start) for unit in wanted}
        releases = sorted(r for r in world.released_s if start <= r < start + DAY_S)
        pending = iter(releases)
        next_release = next(pending, math.inf)
        for play in world.days[day]:
            while play.at_s >= next_release:  # cache control replans as the title appears
                wanted = plan(next_release)
                fresh = wanted.keys() - held.keys()
                added: Counter[int] = Counter()  # bytes to bring, per title
                for i, j in fresh:
                    added[i] += wanted[i, j]
                for i, j in fresh:
                    held[i, j] = max(next_release, ixp_ready[i]) + added[i] / world.fill_rate
                fill += sum(added.values())
                held = {unit: at for unit, at in held.items() if unit in wanted}
                next_release = next(pending, math.inf)
            if day != last:
                continue
            title = world.titles[play.title]
            files = list(play_files(title, play))
            streamed = sum(n for _, n in files)
            servable = max(held.get((play.title, j), math.inf) for j, _ in files)
            if servable <= play.at_s:
                where = "embedded"
            elif ixp_ready[play.title] <= play.at_s:
                where = "ixp"
            else:
                where = "origin"
            tally.add(where, streamed, world.new_on(day, play.title))
        if day == last:
            tally.fill = fill
    return tally


def lru_cache(world: World, capacity_bytes: int, chunked: bool) -> Tally:
    """Bytes by source on the last day, the embedded OCA a pull-through LRU: of 64 MiB chunks
    of the files a play reads (chunked), or of whole titles, every rendition, as fill places."""
    tally = Tally()
    last = len(world.days) - 1
    cache: OrderedDict[tuple[int, int, int], int] = OrderedDict()
    used = 0
    ixp_ready = [
        r + t.size / world.fill_rate for t, r in zip(world.titles, world.released_s, strict=True)
    ]
    for day in range(1, len(world.days)):
        measured = day == last
        for play in world.days[day]:
            title = world.titles[play.title]
            upstream = "ixp" if ixp_ready[play.title] <= play.at_s else "origin"
            new = measured and world.new_on(day, play.title)
            for key, read, stored in lru_units(title, play, chunked):
                if key in cache:
                    cache.move_to_end(key)
                    if measured:
                        tally.add("embedded", read, new)
                    continue
                cache[key] = stored
                used += stored
                while used > capacity_bytes:
                    used -= cache.popitem(last=False)[1]
                if measured:
                    tally.add(upstream, read, new)
                    tally.fill += stored
    return tally


def lru_units(
    title: Title, play: Play, chunked: bool
) -> list[tuple[tuple[int, int, int], int, int]]:
    """(key, bytes read, bytes stored on a miss) of each cache unit one play touches."""
    files = list(play_files(title, play))
    if not chunked:  # the title is one unit: its files come and go together
        return [((play.title, -1, 0), sum(n for _, n in files), title.size)]
    units = []
    for index, streamed in files:
        size = title.files[index].size
        for chunk in range((streamed + CHUNK_BYTES - 1) // CHUNK_BYTES):
            read = min(CHUNK_BYTES, streamed - chunk * CHUNK_BYTES)
            stored = min(CHUNK_BYTES, size - chunk * CHUNK_BYTES)
            units.append(((play.title, index, chunk), read, stored))
    return units


# ---- the run -----------------------------------------------------------------------------------


async def run(quick: bool) -> dict[str, Any]:
    scale = QUICK if quick else FULL
    started = time.perf_counter()
    world = build_world(random.Random(SEED), scale)
    catalog_bytes = sum(
        t.size for t, r in zip(world.titles, world.released_s, strict=True) if r < 0
    )
    window = openconnect(1, 1).oca(EMBEDDED).fill_window
    window_s = (window[1].hour - window[0].hour) * 3600
    sweep: list[dict[str, Any]] = []
    for fraction in CAPACITIES:
        capacity = int(fraction * catalog_bytes)
        config = openconnect(capacity, sum(t.size for t in world.titles))
        print(
            f"capacity {fraction:.0%} of the catalog ({capacity / 1e12:.2f} TB) …",
            file=sys.stderr,
            flush=True,
        )
        tallies = {
            "rendition": popularity_fill(world, config, hindsight=False, per_rendition=True),
            "rendition_hindsight": popularity_fill(
                world, config, hindsight=True, per_rendition=True
            ),
            "popularity": popularity_fill(world, config, hindsight=False, per_rendition=False),
            "hindsight": popularity_fill(world, config, hindsight=True, per_rendition=False),
            "lru": lru_cache(world, capacity, chunked=True),
            "lru_title": lru_cache(world, capacity, chunked=False),
        }
        sweep.append({"capacity_fraction": fraction, **{k: t.shares() for k, t in tallies.items()}})
    columns = ("rendition", "r-hindsight", "title", "t-hindsight", "LRU chunks", "LRU titles")
    print(f"{'capacity':>9}" + "".join(f"{c:>12}" for c in columns) + f"{'rend-LRU':>10}")
    for row in sweep:
        shares = [row[name]["embedded_share"] for name in STRATEGIES]
        print(
            f"{row['capacity_fraction']:>9.0%}"
            + "".join(f"{share:>12.1%}" for share in shares)
            + f"{margin(row):>+10.1%}"
        )
    head = next(row for row in sweep if row["capacity_fraction"] == HEADLINE_CAPACITY)
    fill, lru = head["rendition"], head["lru"]
    print(f"done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return {
        "embedded_share": fill["embedded_share"],
        "lru_embedded_share": lru["embedded_share"],
        "popularity_minus_lru": round(margin(head), 4),
        "offload_vs_lru_min": round(100 * min(margin(row) for row in sweep), 2),
        "ixp_share": fill["ixp_share"],
        "origin_share": fill["origin_share"],
        "lru_ixp_share": lru["ixp_share"],
        "lru_origin_share": lru["origin_share"],
        "lru_title_embedded_share": head["lru_title"]["embedded_share"],
        "hindsight_embedded_share": head["rendition_hindsight"]["embedded_share"],
        "title_popularity_embedded_share": head["popularity"]["embedded_share"],
        "title_hindsight_embedded_share": head["hindsight"]["embedded_share"],
        "capacity_fraction": HEADLINE_CAPACITY,
        "details": {name: head[name] for name in STRATEGIES},
        "sweep": [
            {
                "capacity_fraction": row["capacity_fraction"],
                **{name: row[name]["embedded_share"] for name in STRATEGIES},
            }
            for row in sweep
        ],
        "params": {
            "seed": SEED,
            "titles": scale.titles,
            "new_titles_per_day": scale.new_per_day,
            "plays_per_day": scale.plays_per_day,
            "days": scale.days,
            "zipf_s": ZIPF_S,
            "drift_sigma": DRIFT_SIGMA,
            "catalog_bytes": catalog_bytes,
            "runtime_median_s": RUNTIME_MEDIAN_S,
            "lru_chunk_bytes": CHUNK_BYTES,
            "fill_rate_bytes_per_s": world.fill_rate,
            "fill_window_bytes": window_s * world.fill_rate,
        },
    }


def margin(row: dict[str, Any]) -> float:
    """Per-rendition popularity fill's embedded share less LRU's, at one capacity."""
    return float(row["rendition"]["embedded_share"] - row["lru"]["embedded_share"])


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
