import hashlib

import pytest
from tests.support.factories import openconnect_dict

from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.testing import FakeClock
from reelcloud.platform.topology import OpenConnectConfig
from reelcloud.services.cachecontrol.fleet import Fleet
from reelcloud.services.cachecontrol.models import Report
from reelcloud.services.cachecontrol.planning import fill_master, placement, sources_for
from reelcloud.services.cachecontrol.titles import Title, TitleFile, rank


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
