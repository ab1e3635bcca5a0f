import hashlib
import random

import pytest
from tests.support.factories import openconnect_dict

from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.testing import FakeClock
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.cachecontrol.fleet import Fleet
from reelcloud.services.cachecontrol.models import Report
from reelcloud.services.cachecontrol.planning import (
    FILL_HEADROOM,
    fill_master,
    placement,
    sources_for,
)
from reelcloud.services.cachecontrol.titles import Rendition, Title, TitleFile, rank


def cid(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def title(name: str, size: int, popularity: float = 0.0, published_at: float = 0.0) -> Title:
    files = (
        TitleFile("a.m4s", cid(name + "a"), size // 2),
        TitleFile("b.m4s", cid(name + "b"), size - size // 2),
    )
    return Title(f"t-{name}", files, popularity, published_at)


def report(seq: int, **fields) -> Report:
    health = {
        "active_connections": 0,
        "bytes_per_s": 0,
        "requests_per_s": 0,
        "error_rate": 0,
        "disk_used": 0,
        "disk_free": 0,
    }
    health.update(fields.pop("health", {}))
    return Report.model_validate(
        {"seq": seq, "health": health, "prefixes": ["127.10.0.0/16"], **fields}
    )


def config(**overrides) -> OpenConnectConfig:
    return OpenConnectConfig.model_validate(openconnect_dict(**overrides))


def test_reports_carry_full_lists_then_deltas_and_gaps_ask_for_a_full_list():
    clock = FakeClock()
    fleet = Fleet(config(), clock=clock)
    assert fleet.apply("oca-a-1", report(0, full=[cid("x"), cid("y")])) is False
    assert fleet.apply("oca-a-1", report(1, added=[cid("z")], removed=[cid("x")])) is False
    assert fleet.state("oca-a-1").content == {cid("y"), cid("z")}
    version = fleet.content_version
    assert fleet.apply("oca-a-1", report(3, added=[cid("w")])) is True  # seq 2 was lost
    assert fleet.state("oca-a-1").content == {cid("y"), cid("z")}  # the delta was not applied
    assert fleet.content_version == version
    assert fleet.apply("oca-a-1", report(4, full=[cid("w")])) is False
    assert fleet.state("oca-a-1").content == {cid("w")}
    with pytest.raises(NotFoundError):
        fleet.apply("oca-nobody", report(0, full=[]))


def test_an_oca_is_stale_after_three_missed_reports_and_unhealthy_when_draining():
    clock = FakeClock()
    fleet = Fleet(config(), clock=clock)  # reports every 0.5 s
    fleet.apply("oca-a-1", report(0, full=[]))
    fleet.apply("oca-a-2", report(0, full=[], health={"draining": True}))
    fleet.apply("oca-b-1", report(0, full=[], health={"error_rate": 0.9}))
    assert [s.config.id for s in fleet.healthy()] == ["oca-a-1"]
    clock.advance(1.4)
    assert [s.config.id for s in fleet.healthy()] == ["oca-a-1"]
    clock.advance(0.2)  # 1.6 s > 3 x 0.5 s
    assert fleet.healthy() == []


def test_reports_refuse_bad_content_ids_and_prefixes():
    with pytest.raises(ValueError, match="content id"):
        report(0, full=["../../etc/passwd"])
    with pytest.raises(ValueError, match="prefixes"):
        Report.model_validate({"seq": 0, "health": {}, "prefixes": ["10.0.0.0/33"]})


def test_placement_puts_the_most_popular_titles_that_fit_on_each_oca():
    titles = rank(
        [title("cold", 40, 1), title("hot", 40, 90), title("warm", 40, 50), title("huge", 500, 99)],
        plays={},
    )
    assert [t.title_id for t in titles] == ["t-huge", "t-hot", "t-warm", "t-cold"]
    oc = config()
    small = oc.model_copy(
        update={
            "ocas": [
                o.model_copy(update={"capacity_bytes": 100}) if o.kind == "offload" else o
                for o in oc.ocas
            ]
        }
    )
    plan = placement(small, titles)
    # 95 bytes of headroom-adjusted disk: the huge title never fits, then the two hottest.
    assert [t.title_id for t in plan["oca-a-1"]] == ["t-hot", "t-warm"]
    assert [t.title_id for t in plan["oca-ixp-1"]] == ["t-huge", "t-hot", "t-warm", "t-cold"]
    assert rank(titles, plays={"t-cold": 3})[0].title_id == "t-cold"  # counted plays come first
    # A release of today goes first: its plays have not been counted yet.
    fresh = title("fresh", 40, 0, published_at=1_000_000.0)
    ranked = rank([*titles, fresh], plays={"t-cold": 3}, now=1_000_000.0 + 3600)
    assert ranked[0].title_id == "t-fresh"
    a_week_later = rank([*titles, fresh], plays={"t-cold": 3}, now=1_000_000.0 + 7 * 86400)
    assert a_week_later[-1].title_id == "t-fresh"


def test_fill_sources_escalate_from_peer_to_tier_to_origin():
    clock = FakeClock(1000.0)
    oc = config()
    fleet = Fleet(oc, clock=clock)
    hit = title("hit", 100)
    ids = sorted(hit.content_ids)
    for oca in oc.ocas:
        fleet.apply(oca.id, report(0, full=[]))
    plan = placement(oc, [hit])
    a1, a2 = oc.oca("oca-a-1"), oc.oca("oca-a-2")
    ixp = oc.oca("oca-ixp-1")
    master = fill_master(hit.title_id, [a1, a2])
    other = a2 if master is a1 else a1

    # Nobody has it: the IXP goes to the origin; the site's master waits for the IXP,
    # and its peer waits for the master.
    assert sources_for(fleet, plan, ixp, hit, 0, 60).origin
    assert sources_for(fleet, plan, master, hit, 0, 60).waiting
    assert sources_for(fleet, plan, other, hit, 0, 60).waiting

    fleet.apply("oca-ixp-1", report(1, added=ids))
    tier = sources_for(fleet, plan, master, hit, 0, 60)
    assert [(s.config.id, kind) for s, kind in tier.ocas] == [("oca-ixp-1", "tier")]
    assert sources_for(fleet, plan, other, hit, 0, 60).waiting  # still the master's job
    late = sources_for(fleet, plan, other, hit, 61, 60)  # waited long enough: go to the tier
    assert [kind for _, kind in late.ocas] == ["tier"]

    fleet.apply(master.id, report(1, added=ids))
    peer = sources_for(fleet, plan, other, hit, 0, 60)
    assert [(s.config.id, kind) for s, kind in peer.ocas] == [(master.id, "peer")]

    # The IXP stops reporting: with no peer and no tier left, the origin, after waiting.
    lonely = oc.oca("oca-b-1")
    clock.advance(10)
    fleet.apply("oca-b-1", report(1, full=[]))
    fleet.apply("oca-b-2", report(1, full=[]))
    assert not sources_for(fleet, plan, lonely, hit, 0, 60).ocas
    assert sources_for(fleet, plan, lonely, hit, 121, 60).origin


# ---- placement per rendition ------------------------------------------------------------------


def rendition_title(
    name: str, rungs: dict[str, int], audio: int = 5, published_at: float = 0.0
) -> Title:
    """A title with one file per rung (of these sizes) and an audio track, its base."""
    files = [TitleFile(f"{rung}.m4s", cid(name + rung), size) for rung, size in rungs.items()]
    files.append(TitleFile("audio.m4s", cid(name + "audio"), audio))
    renditions = tuple(Rendition(rung, frozenset([cid(name + rung)])) for rung in rungs)
    return Title(f"t-{name}", tuple(files), 0.0, published_at, renditions=renditions)


def offload_capacity(capacity: int) -> OpenConnectConfig:
    oc = config()
    return oc.model_copy(
        update={
            "ocas": [
                o.model_copy(update={"capacity_bytes": capacity}) if o.kind == "offload" else o
                for o in oc.ocas
            ]
        }
    )


def held(plan: dict[str, list[Title]], oca_id: str) -> dict[str, set[str]]:
    """Per title on this OCA, the names of the files the plan gives it."""
    return {t.title_id: {f.name for f in t.files} for t in plan[oca_id]}


def test_placement_takes_the_renditions_with_the_most_counted_plays():
    hot = rendition_title("hot", {"240p": 10, "1080p": 50})
    warm = rendition_title("warm", {"240p": 10, "1080p": 50})
    demand = {
        ("t-hot", "1080p"): 1000.0,
        ("t-hot", "240p"): 0.0,
        ("t-warm", "240p"): 600.0,  # watched on phones
        ("t-warm", "1080p"): 2.0,
    }
    plan = placement(offload_capacity(100), rank([hot, warm], {}), demand)
    # 95 bytes: hot's 1080p and audio (55), warm's 240p and audio (15), hot's 240p (10): 80;
    # warm's 1080p (50) would be 130.
    assert held(plan, "oca-a-1") == {
        "t-hot": {"1080p.m4s", "240p.m4s", "audio.m4s"},
        "t-warm": {"240p.m4s", "audio.m4s"},
    }
    assert [t.title_id for t in plan["oca-a-1"]] == ["t-hot", "t-warm"]  # by their best unit
    partial = plan["oca-a-1"][1]
    assert partial.rendition_names == {"240p"}
    assert partial.content_ids == {cid("warm240p"), cid("warmaudio")}
    assert partial.size == 15
    # The storage OCA, sized for the catalog, holds every title whole.
    assert plan["oca-ixp-1"][0] is hot
    assert plan["oca-ixp-1"][1] is warm

    swapped = {("t-hot", "1080p"): 2.0, ("t-warm", "240p"): 600.0, ("t-warm", "1080p"): 1000.0}
    assert held(placement(offload_capacity(100), rank([hot, warm], {}), swapped), "oca-a-1") == {
        "t-warm": {"1080p.m4s", "240p.m4s", "audio.m4s"},
        "t-hot": {"240p.m4s", "audio.m4s"},  # its 1080p and audio (55) no longer fit in 30
    }


def test_a_rendition_is_placed_only_with_its_audio():
    big = rendition_title("big", {"1080p": 90}, audio=10)
    small = rendition_title("small", {"1080p": 40}, audio=10)
    demand = {("t-big", "1080p"): 1000.0, ("t-small", "1080p"): 10.0}
    plan = placement(offload_capacity(100), rank([big, small], {}), demand)
    # big's 1080p alone (90) fits in 95 bytes, with its audio (100) it does not.
    assert held(plan, "oca-a-1") == {"t-small": {"1080p.m4s", "audio.m4s"}}
    # Every part placed anywhere carries its title's base.
    for parts in plan.values():
        assert all(part.base_ids <= part.content_ids for part in parts)


def test_a_titles_audio_is_counted_once_against_the_budget():
    hot = rendition_title("hot", {"720p": 40, "1080p": 50}, audio=5)
    demand = {("t-hot", "1080p"): 1000.0, ("t-hot", "720p"): 500.0}
    plan = placement(offload_capacity(100), [hot], demand)  # 95 bytes
    assert plan["oca-a-1"] == [hot]  # 50 + 5, then 40: exactly 95, the whole title


def test_placement_never_plans_more_than_an_ocas_disk_less_the_headroom():
    rng = random.Random(7)
    titles = [
        rendition_title(f"{i}", {r: rng.randint(1, 60) for r in ("240p", "720p", "1080p")})
        for i in range(40)
    ]
    demand = {
        (t.title_id, r): float(rng.choice([0, 1, 5, 50, 500]))
        for t in titles
        for r in t.rendition_names
    }
    catalog = sum(t.size for t in titles)
    for capacity in (0, 20, 101, 500, 1_234, catalog // 2, catalog):
        plan = placement(offload_capacity(capacity), rank(titles, {}), demand)
        planned = sum(part.size for part in plan["oca-a-1"])
        assert planned <= capacity * FILL_HEADROOM
        if capacity >= 500:  # the budget is used, not left empty
            assert planned > capacity * FILL_HEADROOM - 65
    assert sum(t.size for t in plan["oca-ixp-1"]) == catalog


def test_without_counts_per_rendition_titles_are_placed_whole_by_rank():
    hot = rendition_title("hot", {"240p": 10, "1080p": 50})
    hot = Title(hot.title_id, hot.files, 90.0, 0.0, renditions=hot.renditions)
    cold = rendition_title("cold", {"240p": 10, "1080p": 50})
    ranked = rank([cold, hot], plays={})
    for plan in (
        placement(offload_capacity(100), ranked),
        placement(offload_capacity(100), ranked, {}),
    ):
        # 95 bytes: hot (65) whole, as before counts per rendition; cold (65) does not fit.
        assert plan["oca-a-1"] == [hot]
        assert plan["oca-a-1"][0] is hot


def test_a_new_release_is_placed_first_and_whole():
    day = 86_400.0
    now = 100 * day
    old = rendition_title("old", {"240p": 10, "1080p": 50})
    fresh = rendition_title("fresh", {"240p": 10, "1080p": 20}, published_at=now - 3600)
    demand = {("t-old", "1080p"): 1000.0, ("t-old", "240p"): 50.0}  # nobody counted fresh yet
    plan = placement(offload_capacity(100), rank([old, fresh], {}, now=now), demand, now=now)
    # 95 bytes: fresh whole (35), then old's 1080p and audio (55); old's 240p no longer fits.
    assert [t.title_id for t in plan["oca-a-1"]] == ["t-fresh", "t-old"]
    assert plan["oca-a-1"][0] is fresh
    assert held(plan, "oca-a-1")["t-old"] == {"1080p.m4s", "audio.m4s"}
    # A week on it is an old title nobody played: after every counted rendition.
    later = now + 7 * day
    plan = placement(offload_capacity(100), rank([old, fresh], {}, now=later), demand, now=later)
    assert [t.title_id for t in plan["oca-a-1"]] == ["t-old", "t-fresh"]
    assert held(plan, "oca-a-1") == {
        "t-old": {"1080p.m4s", "240p.m4s", "audio.m4s"},
        "t-fresh": {"1080p.m4s", "audio.m4s"},  # 20 + 5 of the 30 left
    }


def test_part_of_a_title_is_filled_from_a_peer_holding_that_part():
    clock = FakeClock(1000.0)
    hit = rendition_title("hit", {"240p": 10, "1080p": 50})
    oc = offload_capacity(60)  # 57 bytes: the 1080p and the audio
    fleet = Fleet(oc, clock=clock)
    for oca in oc.ocas:
        fleet.apply(oca.id, report(0, full=[]))
    plan = placement(oc, [hit], {("t-hit", "1080p"): 10.0})
    a1, a2 = oc.oca("oca-a-1"), oc.oca("oca-a-2")
    part = plan[a1.id][0]
    assert part.content_ids == {cid("hit1080p"), cid("hitaudio")}
    master = fill_master(hit.title_id, [a1, a2])
    other = a2 if master is a1 else a1
    fleet.apply("oca-ixp-1", report(1, added=sorted(hit.content_ids)))
    tier = sources_for(fleet, plan, master, part, 0, 60)
    assert [(s.config.id, kind) for s, kind in tier.ocas] == [("oca-ixp-1", "tier")]
    fleet.apply(master.id, report(1, added=sorted(part.content_ids)))  # the part, not the 240p
    peer = sources_for(fleet, plan, other, part, 0, 60)
    assert [(s.config.id, kind) for s, kind in peer.ocas] == [(master.id, "peer")]
