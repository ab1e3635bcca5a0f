"""Values the registry passes around: replication tasks and the conflict a newer copy raises."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reelcloud.platform.errors import ConflictError, UnavailableError
from reelcloud.platform.eureka import InstanceInfo, InstanceStatus


class ReplicationAction(StrEnum):
    """Eureka's PeerEurekaNode actions, spelled as its batch replication body spells them."""

    REGISTER = "Register"
    HEARTBEAT = "Heartbeat"
    CANCEL = "Cancel"
    STATUS_UPDATE = "StatusUpdate"
    DELETE_STATUS_OVERRIDE = "DeleteStatusOverride"


@dataclass(frozen=True, slots=True)
class ReplicationTask:
    action: ReplicationAction
    app: str
    instance_id: str
    instance: InstanceInfo | None = None  # a copy, for Register and Heartbeat
    status: InstanceStatus | None = None
    overridden_status: InstanceStatus | None = None
    last_dirty_ts: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.action.value, self.app, self.instance_id)


class NewerInstanceConflict(ConflictError):
    """A peer renewed with an older copy than ours: we answer 409 with our copy."""

    def __init__(self, instance: InstanceInfo) -> None:
        super().__init__(f"registry holds a newer copy of {instance.instance_id}")
        self.instance = instance


class ReadsRefusedError(UnavailableError):
    """Eureka answers 403 to reads for a while after a start-up sync that found nothing."""

    status = 403
    code = "reads_refused"
