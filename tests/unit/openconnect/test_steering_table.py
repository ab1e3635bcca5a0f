import hashlib

from reelcloud.platform.testing import FakeClock
from reelcloud.services.steering.table import SteeringTable

A = frozenset({hashlib.sha256(b"a").hexdigest()})
B = frozenset({hashlib.sha256(b"b").hexdigest()})


def oca(oca_id, site, kind, prefixes, *, content=A | B, load=0, age=0.1, ok=True):
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
    }


def table(*ocas, clock=None):
    steering = SteeringTable("ixp-1", stale_after_s=1.5, clock=clock or FakeClock())
    steering.load({"stale_after_s": 1.5, "content_version": 1, "ocas": list(ocas)})
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
    assert steering.order_pathways(["a-2", "a-1", "ixp-1"]) == ["a-1", "ixp-1"]


def test_a_play_never_gets_an_empty_list():
    clock = FakeClock()
    steering = table(
        oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], content=A),
        oca("ixp-1", "ixp", "ixp", ["0.0.0.0/0"], content=A),
        clock=clock,
    )
    # Nobody holds B: the IXP anyway, then the origin OCA (here the same one).
    assert ids(steering.rank("127.10.0.1", B)) == [("ixp-1", "fallback-ixp")]
    clock.advance(60)  # everything stale
    assert ids(steering.rank("127.10.0.1", A)) == [("ixp-1", "fallback-origin")]
    assert steering.order_pathways(["a-1", "ixp-1"]) == ["a-1", "ixp-1"]


def test_content_arrives_only_when_it_changed():
    steering = table(oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"], content=A))
    update = oca("a-1", "isp-a", "embedded", ["127.10.0.0/16"])
    del update["content_ids"]
    steering.load({"stale_after_s": 1.5, "content_version": 1, "ocas": [update]})
    assert steering.ocas["a-1"].content == A
    assert steering.content_version == 1
