from collections import Counter

from tests.support.factories import instance

from reelcloud.platform.discovery import ZoneAwareRoundRobin


def test_round_robin_over_same_zone_instances():
    balancer = ZoneAwareRoundRobin("z1")
    pool = [instance("A", 1, zone="z1"), instance("A", 2, zone="z1"), instance("A", 3, zone="z2")]
    picks = Counter(balancer.choose("A", pool).instance_id for _ in range(100))
    assert picks == {"host:a:1": 50, "host:a:2": 50}


def test_other_zones_are_used_when_ours_has_none():
    balancer = ZoneAwareRoundRobin("z3")
    pool = [instance("A", 1, zone="z1"), instance("A", 2, zone="z2")]
    picks = Counter(balancer.choose("A", pool).instance_id for _ in range(10))
    assert picks == {"host:a:1": 5, "host:a:2": 5}


def test_nothing_to_choose_from():
    assert ZoneAwareRoundRobin("z1").choose("A", []) is None


def test_a_new_candidate_list_is_used_at_once():
    balancer = ZoneAwareRoundRobin("z1")
    before = [instance("A", 1, zone="z1"), instance("A", 2, zone="z1")]
    for _ in range(3):
        balancer.choose("A", before)
    after = [instance("A", 3, zone="z1")]  # the registry changed: discovery hands a new list
    assert {balancer.choose("A", after).instance_id for _ in range(4)} == {"host:a:3"}
