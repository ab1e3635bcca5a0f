"""A lease: an instance is in the registry for as long as it keeps renewing."""

from __future__ import annotations

from dataclasses import dataclass

from reelcloud.platform.clock import millis
from reelcloud.platform.eureka import InstanceInfo


@dataclass(slots=True)
class Lease:
    holder: InstanceInfo
    duration_s: float
    registered_at: float
    last_renewed_at: float
    evicted_at: float = 0.0
    service_up_at: float = 0.0

    def renew(self, now: float) -> None:
        # Eureka's Lease.renew() adds the duration here too, so its leases really expire after
        # twice the duration (a bug its source documents). A lease here expires after one.
        self.last_renewed_at = now
        self.holder.lease_info.last_renewal_ts = millis(now)

    def cancel(self, now: float) -> None:
        if self.evicted_at == 0:
            self.evicted_at = now
            self.holder.lease_info.eviction_ts = millis(now)

    def service_up(self, now: float) -> None:
        if self.service_up_at == 0:
            self.service_up_at = now
            self.holder.lease_info.service_up_ts = millis(now)

    def is_expired(self, now: float, additional_s: float = 0.0) -> bool:
        return self.evicted_at > 0 or now > self.last_renewed_at + self.duration_s + additional_s
