"""Titles as fill sees them: a manifest's files split into renditions and the base, and fill
units ranked by the plays counted per (title, rung)."""

from tests.unit.services.cachecontrol.data import cid

from reelcloud.encoding.ladder import CANDIDATES
from reelcloud.platform.assets import AssetManifest
from reelcloud.services.cachecontrol.titles import (
    FillUnit,
    Rendition,
    Title,
    TitleFile,
    rank,
    rank_units,
    rendition_key,
)

DAY_S = 86_400.0


def manifest(title_id: str = "t-1") -> AssetManifest:
    """Two rungs and audio as ingest writes them: HLS (encrypted) and DASH (clear) files."""
    rung = {"codecs": "avc1", "peak_bps": 1, "average_bps": 1, "video_kbps": 1, "width": 2}
    names = [
        *(f"{kind}_{i}.m3u8" for kind in ("hls", "media") for i in range(3)),
        *(f"init-{i}.m4s" for i in range(3)),
        *(f"enc-seg-{i}-0000{n}.m4s" for i in range(3) for n in (1, 2)),
        *(f"seg-{i}-0000{n}.m4s" for i in range(3) for n in (1, 2)),
        "master.m3u8",
        "manifest.mpd",
        "artwork.jpg",
    ]
    return AssetManifest.model_validate(
        {
            "title_id": title_id,
            "rungs": [
                {
                    **rung,
                    "name": f"{h}p",
                    "representation_id": str(i),
                    "height": h,
                    "playlist": f"media_{i}.m3u8",
                    "hls_playlist": f"hls_{i}.m3u8",
                }
                for i, h in enumerate((240, 1080))
            ],
            "audio": {"playlist": "media_2.m3u8", "hls_playlist": "hls_2.m3u8"},
            "files": [{"name": n, "content_id": cid(title_id + n), "size": 10} for n in names],
        }
    )


def names(title: Title, ids: frozenset[str]) -> set[str]:
    return {f.name for f in title.files if f.content_id in ids}


def title(
    name: str,
    rungs: tuple[str, ...] = ("240p", "1080p"),
    popularity: float = 0.0,
    published_at: float = 0.0,
) -> Title:
    """A title with one file per rung and an audio track, 10 bytes each."""
    files = tuple(TitleFile(f"{r}.m4s", cid(name + r), 10) for r in (*rungs, "audio"))
    renditions = tuple(Rendition(r, frozenset([cid(name + r)])) for r in rungs)
    return Title(f"t-{name}", files, popularity, published_at, renditions=renditions)


def order(units: list[FillUnit]) -> list[tuple[str, str | None]]:
    return [(u.title.title_id, u.rendition) for u in units]


def test_the_rung_a_player_reports_by_height_is_the_ladders_rung_name():
    assert [rendition_key(rung.height) for rung in CANDIDATES] == [r.name for r in CANDIDATES]
    assert rendition_key(1080) == "1080p"


def test_a_manifests_renditions_are_each_rungs_hls_and_dash_files_and_the_rest_is_the_base():
    m = manifest()
    t = Title.from_manifest(m)
    assert t.rendition_names == {"240p", "1080p"}
    by_name = {r.name: r for r in t.renditions}
    assert names(t, by_name["1080p"].content_ids) == {
        "hls_1.m3u8",
        "media_1.m3u8",
        "init-1.m4s",
        "enc-seg-1-00001.m4s",
        "enc-seg-1-00002.m4s",
        "seg-1-00001.m4s",
        "seg-1-00002.m4s",
    }
    assert names(t, t.base_ids) == {
        "hls_2.m3u8",  # the audio, HLS and DASH
        "media_2.m3u8",
        "init-2.m4s",
        "enc-seg-2-00001.m4s",
        "enc-seg-2-00002.m4s",
        "seg-2-00001.m4s",
        "seg-2-00002.m4s",
        "master.m3u8",
        "manifest.mpd",
        "artwork.jpg",
    }
    assert t.base_size == 100
    assert t.rendition_sizes == {"240p": 70, "1080p": 70}
    assert t.base_size + sum(t.rendition_sizes.values()) == t.size


def test_part_of_a_title_holds_what_a_play_of_its_rungs_asks_steering_for():
    m = manifest()
    t = Title.from_manifest(m)
    part = t.with_renditions({"1080p"})
    assert part.playable_ids == set(m.content_ids(["1080p"]))
    assert (
        part.content_ids
        == t.base_ids | next(r for r in t.renditions if r.name == "1080p").content_ids
    )
    assert part.rendition_names == {"1080p"}
    assert t.with_renditions({"240p", "1080p"}) is t
    assert t.playable_ids == set(m.content_ids(["240p", "1080p"]))  # the whole title: unchanged


def test_renditions_rank_by_their_counted_plays():
    a, b = title("a"), title("b")
    demand = {
        ("t-a", "1080p"): 900.0,
        ("t-b", "240p"): 800.0,
        ("t-b", "1080p"): 300.0,
        ("t-a", "240p"): 50.0,
    }
    units = rank_units(rank([a, b], {}), demand)
    assert order(units) == [("t-a", "1080p"), ("t-b", "240p"), ("t-b", "1080p"), ("t-a", "240p")]


def test_a_title_with_few_plays_takes_the_catalogs_mix_of_rungs():
    hits, rare = title("hits"), title("rare")
    demand = {("t-hits", "1080p"): 900.0, ("t-hits", "240p"): 100.0, ("t-rare", "240p"): 1.0}

    def rares() -> list[str | None]:
        return [u.rendition for u in rank_units([hits, rare], demand) if u.title is rare]

    # One play at 240p does not make 240p rare's rung: most of the catalog plays 1080p.
    assert rares() == ["1080p", "240p"]
    # Many do: its own mix outweighs the catalog's.
    demand[("t-rare", "240p")] = 200.0
    assert rares() == ["240p", "1080p"]


def test_titles_nobody_played_come_last_in_rank_order_by_the_catalogs_rungs():
    played = title("played")
    seeded = title("seeded", popularity=50.0)
    plain = title("plain", rungs=("1080p",), popularity=1.0)
    demand = {("t-played", "240p"): 10.0, ("t-played", "1080p"): 30.0}
    units = rank_units(rank([plain, played, seeded], {}), demand)
    assert order(units) == [
        ("t-played", "1080p"),
        ("t-played", "240p"),
        ("t-seeded", "1080p"),  # seeded popularity first, then the catalog's favourite rung
        ("t-seeded", "240p"),
        ("t-plain", "1080p"),
    ]


def test_without_counts_per_rendition_units_are_whole_titles_in_rank_order():
    cold, hot = title("cold", popularity=1.0), title("hot", popularity=9.0)
    ranked = rank([cold, hot], plays={})
    units = rank_units(ranked, {})
    assert order(units) == [("t-hot", None), ("t-cold", None)]
    assert units[0].renditions == {"240p", "1080p"}


def test_a_new_release_ranks_first_and_whole():
    now = 100 * DAY_S
    old = title("old")
    fresh = title("fresh", published_at=now - 3600)
    demand = {("t-old", "1080p"): 1000.0, ("t-old", "240p"): 1000.0}
    units = rank_units(rank([old, fresh], {}, now=now), demand, now=now)
    assert order(units)[0] == ("t-fresh", None)
    a_week_later = now + 7 * DAY_S
    units = rank_units(rank([old, fresh], {}, now=a_week_later), demand, now=a_week_later)
    assert order(units) == [
        ("t-old", "240p"),
        ("t-old", "1080p"),
        ("t-fresh", "240p"),
        ("t-fresh", "1080p"),
    ]
