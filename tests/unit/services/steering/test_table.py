import hashlib

from reelcloud.platform.steering_state import SteeringState
from reelcloud.platform.testing import FakeClock
from reelcloud.services.steering.table import SteeringTable

A = frozenset({hashlib.sha256(b"a").hexdigest()})
B = frozenset({hashlib.sha256(b"b").hexdigest()})


def oca(oca_id, site, kind, prefixes, *, content=A | B, titles=("t-1",), load=0, age=0.1, ok=True):
    return {
        "id": oca_id,
        "site": site,
        "site_kind": kind,
        "address": "127.0.0.1",
        "port": 8700,
        "prefixes": prefixes,
        "report_age_s": age,
        "reports_ok": ok,
        "load": load,
        "content_ids": sorted(content),
        "titles_held": list(titles),
    }


def snapshot(*ocas, version="e.1.1"):
    return SteeringState.model_validate(
        {"stale_after_s": 1.5, "content_version": version, "ocas": list(ocas)}
    )


def table(*ocas, clock=None):
    steering = SteeringTable("ixp-1", stale_after_s=1.5, clock=clock or FakeClock())
    steering.load(snapshot(*ocas))
    return steering


def ids(choices):
    return [(c.oca.id, c.reason) for c in choices]


def test_embedded_before_ixp_longer_prefix_before_shorter_lower_load_first():
    steering = table(
        oca("a-busy", "isp-a", "embedded", ["127.10.0.0/16"], load=9),
        oca("a-idle", "isp-a", "embedded", ["127.10.0.0/16"], load=1),
        oca("a-near", "isp-a", "embedded", ["127.10.3.0/24"], load=50),
        oca("ixp-1", "ixp", "ixp", ["0.0.0.0/0"]),
        oca("b-1", "isp-b", "embedded", ["127.20.0.0/16"]),
    )
    assert ids(steering.rank("127.10.3.7", A)) == [
        ("a-near", "embedded"),
        ("a-idle", "embedded"),
        ("a-busy", "embedded"),
        ("ixp-1", "ixp"),
    ]
    assert ids(steering.rank("127.20.0.9", A)) == [("b-1", "embedded"), ("ixp-1", "ixp")]
    assert ids(steering.rank("10.1.2.3", A)) == [("ixp-1", "ixp")]  # in neither ISP
    assert len(steering.rank("127.10.3.7", A, limit=2)) == 2


def test_only_ocas_holding_every_file_and_reporting_recently():
    clock = FakeClock()
    steering = table(
        oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], content=A),
        oca("a-2", "isp-a", "embedded", ["127.10.0.0/16"], content=A | B, age=1.0),
        oca("a-3", "isp-a", "embedded", ["127.10.0.0/16"], content=A | B, ok=False),
        oca("ixp-1", "ixp", "ixp", ["0.0.0.0/0"]),
        clock=clock,
    )
    assert ids(steering.rank("127.10.0.1", A | B)) == [("a-2", "embedded"), ("ixp-1", "ixp")]
    clock.advance(0.6)  # a-2's last report is now 1.6 s old: stale
    assert ids(steering.rank("127.10.0.1", A | B)) == [("ixp-1", "ixp")]


def test_fallbacks_widen_to_the_ixp_then_the_origin_oca_then_others_holding_the_files():
    steering = table(
        oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], content=A),
        oca("ixp-2", "ixp", "ixp", ["10.0.0.0/8"], content=A | B, load=5),
        oca("ixp-3", "ixp", "ixp", ["10.0.0.0/8"], content=A | B, load=1),
        oca("ixp-1", "ixp", "ixp", ["10.0.0.0/8"], content=A),
        oca("b-1", "isp-b", "embedded", ["127.20.0.0/16"], content=B),
    )
    # a-1 covers the client but lacks B; the IXP OCAs holding B, least loaded first; the origin
    # OCA (ixp-1) lacks B, so it is not offered; then b-1, from another ISP, which holds it.
    assert ids(steering.rank("127.10.0.1", B)) == [
        ("ixp-3", "fallback-ixp"),
        ("ixp-2", "fallback-ixp"),
        ("b-1", "fallback-other"),
    ]
    assert ids(steering.rank("127.10.0.1", A)) == [("a-1", "embedded")]
    # Nobody covers 192.0.2.1: the IXP site, then the origin OCA only where it holds the files.
    assert ids(steering.rank("192.0.2.1", A)) == [
        ("ixp-1", "fallback-ixp"),
        ("ixp-3", "fallback-ixp"),
        ("ixp-2", "fallback-ixp"),
        ("a-1", "fallback-other"),
    ]


def test_the_origin_oca_is_a_fallback_only_when_it_holds_the_files_and_is_usable():
    clock = FakeClock()
    steering = table(
        oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], content=A),
        oca("ixp-1", "storage", "storage", ["10.0.0.0/8"], content=A | B, age=1.0),
        clock=clock,
    )
    assert ids(steering.rank("127.10.0.1", B)) == [("ixp-1", "fallback-origin")]
    clock.advance(1.0)  # the origin OCA's report is stale
    assert steering.rank("127.10.0.1", B) == []


def test_nobody_holding_the_files_gets_an_empty_answer_not_an_oca_that_lacks_them():
    clock = FakeClock()
    steering = table(
        oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], content=A),
        oca("ixp-1", "ixp", "ixp", ["0.0.0.0/0"], content=A),
        clock=clock,
    )
    assert steering.rank("127.10.0.1", B) == []
    assert steering.rank("127.10.0.1", A | B) == []
    clock.advance(60)  # everything stale: even what they hold is not offered
    assert steering.rank("127.10.0.1", A) == []
    unhealthy = table(oca("ixp-1", "ixp", "ixp", ["0.0.0.0/0"], content=A, ok=False))
    assert unhealthy.rank("127.10.0.1", A) == []


def test_manifest_pathways_hold_the_title_usable_ones_first_and_never_one_without_it():
    clock = FakeClock()
    steering = table(
        oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], titles=("t-1",)),
        oca("a-2", "isp-a", "embedded", ["127.10.0.0/16"], titles=("t-1",), age=1.0),
        oca("a-3", "isp-a", "embedded", ["127.10.0.0/16"], titles=()),  # evicted t-1
        oca("ixp-1", "ixp", "ixp", ["0.0.0.0/0"], titles=("t-1", "t-2")),
        clock=clock,
    )
    assert steering.order_pathways(["a-2", "a-3", "a-1", "ixp-1"], "t-1") == ["a-2", "a-1", "ixp-1"]
    clock.advance(0.6)  # a-2 stale
    assert steering.order_pathways(["a-2", "a-3", "a-1", "ixp-1"], "t-1") == ["a-1", "ixp-1"]
    clock.advance(60)  # all stale: those holding the title are kept, a player needs one
    assert steering.order_pathways(["a-2", "a-3", "a-1", "ixp-1"], "t-1") == ["a-2", "a-1", "ixp-1"]
    assert steering.order_pathways(["a-1", "a-3", "gone"], "t-2") == []
    assert steering.order_pathways(["a-1"], "t-unknown") == []


def test_content_arrives_only_when_it_changed():
    steering = table(oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], content=A))
    update = oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], age=0.3)
    del update["content_ids"], update["titles_held"]
    steering.load(snapshot(update, version="e.2.1"))
    assert steering.ocas["a-1"].content == A
    assert steering.ocas["a-1"].titles == {"t-1"}
    assert steering.ocas["a-1"].last_report_at == steering.clock.now() - 0.3
    assert steering.content_version == "e.1.1"  # what it holds is still version 1's
    steering.load(
        snapshot(
            oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], content=B, titles=()),
            version="e.3.1",
        )
    )
    assert (steering.ocas["a-1"].content, steering.ocas["a-1"].titles) == (B, frozenset())
    assert steering.content_version == "e.3.1"
