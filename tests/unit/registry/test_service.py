import random

import pytest
from tests.support.factories import instance, registry_config

from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.eureka import ActionType, InstanceStatus
from reelcloud.registry.models import NewerInstanceConflict, ReplicationAction
from reelcloud.registry.service import InstanceRegistry


def make(clock, **overrides):
    sent = []
    registry = InstanceRegistry(
        registry_config(**overrides), clock, replicate=sent.append, rng=random.Random(1)
    )
    return registry, sent


def renew_all(registry, instances):
    for i in instances:
        registry.renew(i.app, i.instance_id)


def test_register_then_fetch(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1))
    registry.register(instance("PLAYBACK", 1))
    apps = registry.applications()
    assert sorted(apps.apps) == ["CATALOG", "PLAYBACK"]
    assert apps.apps_hashcode == "UP_2_"
    assert registry.instance("CATALOG", "host:catalog:1").lease_info.registration_ts > 0


def test_renew_of_unknown_instance_is_not_found(clock):
    registry, _ = make(clock)
    with pytest.raises(NotFoundError):
        registry.renew("CATALOG", "nope")


def test_lease_expires_after_its_duration_without_renewals(clock):
    registry, _ = make(clock, self_preservation=False)
    registry.register(instance("CATALOG", 1))
    clock.advance(89)
    assert registry.evict() == []
    clock.advance(2)
    assert [i.instance_id for i in registry.evict()] == ["host:catalog:1"]
    assert registry.size() == 0


def test_renewal_keeps_the_lease(clock):
    registry, _ = make(clock, self_preservation=False)
    registry.register(instance("CATALOG", 1))
    for _ in range(5):
        clock.advance(30)
        registry.renew("CATALOG", "host:catalog:1")
    assert registry.evict() == []


def test_eviction_takes_at_most_fifteen_percent_per_pass(clock):
    registry, _ = make(clock, self_preservation=False)
    for n in range(20):
        registry.register(instance("CATALOG", n))
    clock.advance(200)
    assert len(registry.evict()) == 20 - int(20 * 0.85)  # 3
    assert registry.size() == 17


def test_eviction_compensation_extends_leases(clock):
    registry, _ = make(clock, self_preservation=False)
    registry.register(instance("CATALOG", 1))
    clock.advance(95)
    assert registry.evict(additional_s=10) == []
    assert len(registry.evict()) == 1


def test_self_preservation_when_renewals_drop_below_threshold(clock):
    registry, _ = make(clock)
    fleet = [instance("CATALOG", n) for n in range(10)]
    for i in fleet:
        registry.register(i)
    assert registry.renewal_threshold == int(10 * 2 * 0.85)  # 17 per minute
    # One healthy minute: everyone renews twice (at +15 s and +45 s of the window).
    clock.advance(15)
    renew_all(registry, fleet)
    clock.advance(30)
    renew_all(registry, fleet)
    clock.advance(16)
    assert registry.lease_expiration_enabled()
    assert not registry.in_self_preservation()
    # 3 of 10 (30 % > 15 %) stop renewing at once, e.g. a network partition.
    survivors = fleet[3:]
    for _ in range(4):
        clock.advance(30)
        renew_all(registry, survivors)
    assert registry.in_self_preservation()
    assert registry.evict() == []  # expired leases are kept
    assert registry.size() == 10
    assert registry.status()["self_preservation_mode"] is True


def test_one_lost_instance_of_many_is_evicted(clock):
    registry, _ = make(clock)
    fleet = [instance("CATALOG", n) for n in range(20)]
    for i in fleet:
        registry.register(i)
    for _ in range(6):
        clock.advance(30)
        renew_all(registry, fleet[1:])  # 1 of 20 (5 %) stops
    assert not registry.in_self_preservation()
    evicted = registry.evict()
    assert [i.instance_id for i in evicted] == [fleet[0].instance_id]


def test_self_preservation_off_evicts_regardless(clock):
    registry, _ = make(clock, self_preservation=False)
    fleet = [instance("CATALOG", n) for n in range(4)]
    for i in fleet:
        registry.register(i)
    clock.advance(100)
    assert len(registry.evict()) == 4 - int(4 * 0.85)


def test_threshold_recount_does_not_drop_on_mass_loss(clock):
    registry, _ = make(clock, self_preservation=False)
    for n in range(10):
        registry.register(instance("CATALOG", n))
    registry.expected_clients = 10
    with_preservation, _ = make(clock)
    for n in range(10):
        with_preservation.register(instance("CATALOG", n))
    with_preservation.expected_clients = 20  # pretend 20 were expected: 10 < 0.85 * 20
    with_preservation.update_renewal_threshold()
    assert with_preservation.expected_clients == 20
    with_preservation.expected_clients = 11
    with_preservation.update_renewal_threshold()
    assert with_preservation.expected_clients == 10


def test_cancel_removes_and_records_a_deleted_change(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1))
    registry.cancel("CATALOG", "host:catalog:1")
    assert registry.size() == 0
    delta = registry.delta()
    (change,) = list(delta)
    assert change.action_type is ActionType.DELETED
    with pytest.raises(NotFoundError):
        registry.cancel("CATALOG", "host:catalog:1")


def test_delta_holds_recent_changes_for_the_retention_period(clock):
    registry, _ = make(clock, delta_retention_s=180)
    registry.register(instance("CATALOG", 1))
    clock.advance(100)
    registry.register(instance("CATALOG", 2))
    assert len(registry.delta()) == 2
    clock.advance(100)
    delta = registry.delta()
    assert [i.instance_id for i in delta] == ["host:catalog:2"]
    assert delta.apps_hashcode == "UP_2_"  # of the whole registry, for reconciliation
    assert delta.versions_delta == 2


def test_status_override_wins_over_what_the_instance_says(clock):
    registry, sent = make(clock)
    registry.register(instance("CATALOG", 1))
    registry.set_status_override("CATALOG", "host:catalog:1", InstanceStatus.OUT_OF_SERVICE)
    assert registry.instance("CATALOG", "host:catalog:1").status is InstanceStatus.OUT_OF_SERVICE
    # The instance re-registers saying UP: the override still holds.
    registry.register(instance("CATALOG", 1, dirty=2000))
    held = registry.instance("CATALOG", "host:catalog:1")
    assert held.status is InstanceStatus.OUT_OF_SERVICE
    assert held.overridden_status is InstanceStatus.OUT_OF_SERVICE
    registry.delete_status_override("CATALOG", "host:catalog:1", InstanceStatus.UP)
    assert held.status is InstanceStatus.UP
    assert held.overridden_status is InstanceStatus.UNKNOWN
    actions = [t.action for t in sent]
    assert ReplicationAction.STATUS_UPDATE in actions
    assert ReplicationAction.DELETE_STATUS_OVERRIDE in actions


def test_instance_saying_down_is_believed_over_an_override(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1))
    registry.set_status_override("CATALOG", "host:catalog:1", InstanceStatus.UP)
    registry.register(instance("CATALOG", 1, status=InstanceStatus.DOWN, dirty=5000))
    assert registry.instance("CATALOG", "host:catalog:1").status is InstanceStatus.DOWN


def test_register_keeps_a_newer_copy(clock):
    registry, _ = make(clock)
    newer = instance("CATALOG", 1, dirty=5000)
    newer.metadata["v"] = "new"
    registry.register(newer)
    older = instance("CATALOG", 1, dirty=1000)
    older.metadata["v"] = "old"
    registry.register(older)
    assert registry.instance("CATALOG", "host:catalog:1").metadata["v"] == "new"


def test_renew_with_newer_dirty_timestamp_asks_for_register(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1, dirty=1000))
    with pytest.raises(NotFoundError):
        registry.renew("CATALOG", "host:catalog:1", last_dirty_ts=2000)


def test_replicated_renew_with_older_copy_gets_ours(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1, dirty=3000))
    with pytest.raises(NewerInstanceConflict) as caught:
        registry.renew("CATALOG", "host:catalog:1", last_dirty_ts=1000, replication=True)
    assert caught.value.instance.last_dirty_ts == 3000


def test_only_local_changes_are_replicated(clock):
    registry, sent = make(clock)
    registry.register(instance("CATALOG", 1), replication=True)
    registry.renew("CATALOG", "host:catalog:1", replication=True)
    assert sent == []
    registry.register(instance("CATALOG", 2))
    registry.renew("CATALOG", "host:catalog:2")
    registry.cancel("CATALOG", "host:catalog:2")
    assert [t.action for t in sent] == [
        ReplicationAction.REGISTER,
        ReplicationAction.HEARTBEAT,
        ReplicationAction.CANCEL,
    ]


def test_generation_changes_on_writes_not_on_renewals(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1))
    generation = registry.generation
    registry.renew("CATALOG", "host:catalog:1")
    assert registry.generation == generation
    registry.update_metadata("CATALOG", "host:catalog:1", {"weight": "2"})
    assert registry.generation > generation


def test_lookups_by_vip_and_id(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1))
    registry.register(instance("PLAYBACK", 1))
    assert [i.app for i in registry.by_vip("catalog")] == ["CATALOG"]
    assert registry.instance_by_id("host:playback:1").app == "PLAYBACK"
    with pytest.raises(NotFoundError):
        registry.instance_by_id("missing")
    with pytest.raises(NotFoundError):
        registry.application("MISSING")


def test_self_preservation_is_not_reported_while_new_instances_settle(clock):
    registry, _ = make(clock)
    fleet = [instance("CATALOG", n) for n in range(10)]
    clock.advance(50)
    for i in fleet:  # registered late in a window: that window holds few of their renewals
        registry.register(i)
    clock.advance(10)
    renew_all(registry, fleet)
    clock.advance(1)
    assert registry.renewal_threshold == 17
    assert not registry.in_self_preservation()  # a low count, but not a measured one
    assert not registry.lease_expiration_enabled()  # and no eviction on it either
    for _ in range(2):
        clock.advance(30)
        renew_all(registry, fleet)
    clock.advance(1)
    assert registry.lease_expiration_enabled()


def test_one_application_holds_its_instances_only(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1))
    registry.register(instance("CATALOG", 2))
    registry.register(instance("PLAYBACK", 1))
    app = registry.application("CATALOG")
    assert app.name == "CATALOG"
    assert sorted(app.instances) == ["host:catalog:1", "host:catalog:2"]
    registry.cancel("CATALOG", "host:catalog:1")
    registry.cancel("CATALOG", "host:catalog:2")
    with pytest.raises(NotFoundError):
        registry.application("CATALOG")  # no instances left: Eureka answers 404 too


def test_vip_documents_carry_the_hashcode_of_what_they_hold(clock):
    registry, _ = make(clock)
    registry.register(instance("CATALOG", 1))
    registry.register(instance("PLAYBACK", 1, status=InstanceStatus.DOWN))
    both = instance("SEARCH", 1)
    both.vip_address = "search,catalog"
    registry.register(both)
    catalog = registry.by_vip("catalog")
    assert sorted(i.instance_id for i in catalog) == ["host:catalog:1", "host:search:1"]
    assert catalog.apps_hashcode == "UP_2_"
    assert registry.hashcode() == "DOWN_1_UP_2_"
    assert registry.by_vip("search,catalog").apps_hashcode == ""  # a VIP is one list entry
    assert registry.by_vip("playback", secure=True).apps_hashcode == "DOWN_1_"
