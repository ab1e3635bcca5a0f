import pytest
from tests.support.factories import instance

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.eureka import InstanceStatus
from reelcloud.registry.models import ReplicationAction, ReplicationTask
from reelcloud.registry.replication import PeerReplicator, task_from_dict, task_to_dict


def task(action, number=1, **kwargs):
    return ReplicationTask(action, "CATALOG", f"host:catalog:{number}", **kwargs)


def queued(replicator):
    return [(t.action, t.instance_id) for t in replicator.peers[0].queue.values()]


def test_heartbeats_for_one_instance_coalesce_to_the_latest(clock):
    replicator = PeerReplicator(["http://peer/eureka/"], clock)
    for _ in range(5):
        replicator.enqueue(task(ReplicationAction.HEARTBEAT))
    replicator.enqueue(task(ReplicationAction.HEARTBEAT, 2))
    assert queued(replicator) == [
        (ReplicationAction.HEARTBEAT, "host:catalog:1"),
        (ReplicationAction.HEARTBEAT, "host:catalog:2"),
    ]


def test_cancel_supersedes_pending_work_for_the_instance(clock):
    replicator = PeerReplicator(["http://peer/eureka/"], clock)
    replicator.enqueue(task(ReplicationAction.REGISTER, instance=instance()))
    replicator.enqueue(task(ReplicationAction.HEARTBEAT))
    replicator.enqueue(task(ReplicationAction.STATUS_UPDATE, status=InstanceStatus.DOWN))
    replicator.enqueue(task(ReplicationAction.CANCEL))
    assert queued(replicator) == [(ReplicationAction.CANCEL, "host:catalog:1")]


def test_queue_is_bounded_and_drops_the_oldest(clock):
    replicator = PeerReplicator(["http://peer/eureka/"], clock, max_queue=3)
    for n in range(5):
        replicator.enqueue(task(ReplicationAction.HEARTBEAT, n))
    assert [iid for _, iid in queued(replicator)] == [f"host:catalog:{n}" for n in (2, 3, 4)]
    assert replicator.peers[0].stats.dropped == 2


def test_task_wire_round_trip():
    original = task(
        ReplicationAction.REGISTER,
        instance=instance(),
        status=InstanceStatus.UP,
        overridden_status=InstanceStatus.UNKNOWN,
        last_dirty_ts=1234,
    )
    decoded = task_from_dict(task_to_dict(original))
    assert decoded.action is ReplicationAction.REGISTER
    assert decoded.instance is not None
    assert decoded.instance.instance_id == "host:catalog:1"
    assert decoded.last_dirty_ts == 1234


@pytest.mark.parametrize(
    "raw", [[], {"action": "Explode", "appName": "A", "id": "x"}, {"action": "Cancel"}]
)
def test_bad_replication_items_are_rejected(raw):
    with pytest.raises(BadRequestError):
        task_from_dict(raw)
