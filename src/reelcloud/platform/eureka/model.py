"""Instances, applications and the registry document, as Eureka defines them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum

DEFAULT_DATA_CENTER_CLASS = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"
AMAZON_DATA_CENTER_CLASS = "com.netflix.appinfo.AmazonInfo"


class InstanceStatus(StrEnum):
    UP = "UP"
    DOWN = "DOWN"
    STARTING = "STARTING"
    OUT_OF_SERVICE = "OUT_OF_SERVICE"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> InstanceStatus:
        """Unknown strings parse to UNKNOWN, as Eureka's InstanceStatus.toEnum does."""
        try:
            return cls(str(value).upper())
        except ValueError:
            return cls.UNKNOWN


class ActionType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(slots=True)
class LeaseInfo:
    renewal_interval_s: int = 30
    duration_s: int = 90
    registration_ts: int = 0  # all timestamps: milliseconds since the epoch, as on the wire
    last_renewal_ts: int = 0
    eviction_ts: int = 0
    service_up_ts: int = 0


@dataclass(slots=True)
class DataCenterInfo:
    name: str = "MyOwn"
    class_name: str = DEFAULT_DATA_CENTER_CLASS
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class InstanceInfo:
    instance_id: str
    app: str  # upper case, as Eureka normalises it
    host_name: str
    ip_addr: str
    status: InstanceStatus = InstanceStatus.UP
    overridden_status: InstanceStatus = InstanceStatus.UNKNOWN
    port: int = 7001
    port_enabled: bool = True
    secure_port: int = 7002
    secure_port_enabled: bool = False
    vip_address: str = ""
    secure_vip_address: str = ""
    home_page_url: str = ""
    status_page_url: str = ""
    health_check_url: str = ""
    secure_health_check_url: str = ""
    country_id: int = 1
    data_center_info: DataCenterInfo = field(default_factory=DataCenterInfo)
    lease_info: LeaseInfo = field(default_factory=LeaseInfo)
    metadata: dict[str, str] = field(default_factory=dict)
    is_coordinating_discovery_server: bool = False
    last_updated_ts: int = 0
    last_dirty_ts: int = 0
    action_type: ActionType | None = None
    asg_name: str | None = None
    app_group_name: str | None = None

    @property
    def zone(self) -> str:
        """The zone an instance says it is in: metadata `zone` (what Spring Cloud and
        py-eureka-client send) or AmazonInfo's `availability-zone`."""
        return self.metadata.get("zone") or self.data_center_info.metadata.get(
            "availability-zone", ""
        )

    @property
    def base_url(self) -> str:
        if self.secure_port_enabled and not self.port_enabled:
            return f"https://{self.ip_addr}:{self.secure_port}"
        return f"http://{self.ip_addr}:{self.port}"

    def copy(self) -> InstanceInfo:
        """A copy that shares no mutable part with the original."""
        return replace(
            self,
            data_center_info=replace(
                self.data_center_info, metadata=dict(self.data_center_info.metadata)
            ),
            lease_info=replace(self.lease_info),
            metadata=dict(self.metadata),
        )


def reconcile_hashcode(instances: Iterable[InstanceInfo]) -> str:
    """Eureka's apps hashcode: `STATUS_count_` per status present, sorted by status name.

    Clients compare it after applying a delta; a mismatch means they missed something and must
    fetch the full registry (Applications.getReconcileHashCode).
    """
    counts = Counter(instance.status.value for instance in instances)
    return "".join(f"{status}_{counts[status]}_" for status in sorted(counts))


@dataclass(slots=True)
class Application:
    """One application and its instances: what `GET /apps/{APP}` answers (root `application`)."""

    name: str
    instances: dict[str, InstanceInfo] = field(default_factory=dict)

    def add(self, instance: InstanceInfo) -> None:
        self.instances[instance.instance_id] = instance


@dataclass(slots=True)
class Applications:
    """The registry document: applications by name, each a map of instance id to instance."""

    apps: dict[str, dict[str, InstanceInfo]] = field(default_factory=dict)
    versions_delta: int = 0
    apps_hashcode: str = ""

    def add(self, instance: InstanceInfo) -> None:
        self.apps.setdefault(instance.app, {})[instance.instance_id] = instance

    def remove(self, app: str, instance_id: str) -> None:
        instances = self.apps.get(app)
        if instances is None:
            return
        instances.pop(instance_id, None)
        if not instances:
            del self.apps[app]

    def get(self, app: str, instance_id: str) -> InstanceInfo | None:
        return self.apps.get(app, {}).get(instance_id)

    def instances(self, app: str) -> list[InstanceInfo]:
        return list(self.apps.get(app, {}).values())

    def __iter__(self) -> Iterator[InstanceInfo]:
        for instances in self.apps.values():
            yield from instances.values()

    def __len__(self) -> int:
        return sum(len(instances) for instances in self.apps.values())

    def reconcile_hashcode(self) -> str:
        return reconcile_hashcode(self)
