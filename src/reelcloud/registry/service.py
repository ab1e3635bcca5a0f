"""The registry's rules: leases, status overrides, eviction, self-preservation and the delta.

Framework-free and clock-injected: `api.py` translates HTTP into these calls, timers in
`api.py` call `evict()` and friends, and unit tests drive it with a fake clock. Behaviour
follows Eureka's AbstractInstanceRegistry / PeerAwareInstanceRegistryImpl; differences are
noted where they are.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from reelcloud.platform.clock import Clock, millis
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.eureka import (
    ActionType,
    Application,
    Applications,
    InstanceInfo,
    InstanceStatus,
)
from reelcloud.platform.eureka.model import reconcile_hashcode
from reelcloud.platform.topology import RegistryConfig
from reelcloud.registry.lease import Lease
from reelcloud.registry.models import NewerInstanceConflict, ReplicationAction, ReplicationTask
from reelcloud.registry.rate import MeasuredRate

log = logging.getLogger(__name__)

Replicate = Callable[[ReplicationTask], None]


@dataclass(slots=True)
class RecentChange:
    at: float
    instance: InstanceInfo  # a copy taken when the change happened, action type set


class InstanceRegistry:
    def __init__(
        self,
        config: RegistryConfig,
        clock: Clock,
        *,
        replicate: Replicate | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._replicate = replicate
        self._rng = rng or random.Random()
        self._leases: dict[str, dict[str, Lease]] = {}
        self._overrides: dict[str, InstanceStatus] = {}
        self._recent: deque[RecentChange] = deque()
        self._renewals = MeasuredRate(clock, config.renewal_window_s)
        self.expected_clients = 0
        self.renewal_threshold = 0
        self.delta_version = 0
        # Bumped on every change that alters a fetched document; cached responses key on it.
        self.generation = 0
        self.evicted_total = 0
        self.renewals_total = 0
        self.self_preservation_logged = False
        self._reads_allowed_after = 0.0
        self._threshold_raised_at = clock.monotonic()

    # ---- writes -----------------------------------------------------------------------------

    def register(self, registrant: InstanceInfo, *, replication: bool = False) -> InstanceInfo:
        now = self._clock.now()
        apps = self._leases.setdefault(registrant.app, {})
        existing = apps.get(registrant.instance_id)
        if existing is not None:
            if existing.holder.last_dirty_ts > registrant.last_dirty_ts:
                # The copy we hold is newer than the one being registered: keep ours.
                log.info("kept newer copy of %s on register", registrant.instance_id)
                registrant = existing.holder
        else:
            self.expected_clients += 1
            self._update_threshold()
        duration = registrant.lease_info.duration_s or self._config.lease_duration_s
        lease = Lease(registrant, float(duration), registered_at=now, last_renewed_at=now)
        registrant.lease_info.registration_ts = millis(now)
        registrant.lease_info.last_renewal_ts = millis(now)
        registrant.lease_info.eviction_ts = 0
        if existing is not None and existing.service_up_at:
            lease.service_up_at = existing.service_up_at
            registrant.lease_info.service_up_ts = millis(existing.service_up_at)
        apps[registrant.instance_id] = lease
        if (
            registrant.overridden_status != InstanceStatus.UNKNOWN
            and registrant.instance_id not in self._overrides
        ):
            self._overrides[registrant.instance_id] = registrant.overridden_status
        override = self._overrides.get(registrant.instance_id)
        if override is not None:
            registrant.overridden_status = override
        registrant.status = self._effective_status(registrant, existing, replication)
        if registrant.status == InstanceStatus.UP:
            lease.service_up(now)
        self._changed(registrant, ActionType.ADDED, now)
        log.info(
            "registered %s/%s status=%s replication=%s",
            registrant.app,
            registrant.instance_id,
            registrant.status,
            replication,
        )
        if not replication:
            self._send(ReplicationAction.REGISTER, registrant, copy=registrant.copy())
        return registrant

    def renew(
        self,
        app: str,
        instance_id: str,
        *,
        replication: bool = False,
        last_dirty_ts: int | None = None,
        overridden_status: InstanceStatus | None = None,
    ) -> InstanceInfo:
        """Renew a lease. NotFoundError tells the client to register again (or, for a peer, that
        it holds a newer copy); NewerInstanceConflict hands a peer our newer copy."""
        lease = self._lease(app, instance_id)
        now = self._clock.now()
        instance = lease.holder
        status = self._effective_status(instance, lease, replication)
        if status != instance.status:
            instance.status = status
            self._changed(instance, ActionType.MODIFIED, now)
        self._renewals.increment()
        self.renewals_total += 1
        lease.renew(now)
        if not replication:
            self._send(ReplicationAction.HEARTBEAT, instance, copy=instance.copy())
        if last_dirty_ts is not None and last_dirty_ts != instance.last_dirty_ts:
            if last_dirty_ts > instance.last_dirty_ts:
                if (
                    replication
                    and overridden_status is not None
                    and overridden_status is not InstanceStatus.UNKNOWN
                ):
                    self._overrides[instance_id] = overridden_status
                raise NotFoundError(f"{instance_id} is newer on the caller: register again")
            if replication:
                raise NewerInstanceConflict(instance.copy())
        return instance

    def cancel(self, app: str, instance_id: str, *, replication: bool = False) -> None:
        self._remove(app, instance_id, reason="cancelled")
        if not replication:
            self._send_ids(ReplicationAction.CANCEL, app, instance_id)

    def set_status_override(
        self,
        app: str,
        instance_id: str,
        status: InstanceStatus,
        *,
        last_dirty_ts: int | None = None,
        replication: bool = False,
    ) -> InstanceInfo:
        lease = self._lease(app, instance_id)
        now = self._clock.now()
        instance = lease.holder
        self._overrides[instance_id] = status
        instance.overridden_status = status
        instance.status = status
        if last_dirty_ts is not None and last_dirty_ts > instance.last_dirty_ts:
            instance.last_dirty_ts = last_dirty_ts
        if status == InstanceStatus.UP:
            lease.service_up(now)
        self._changed(instance, ActionType.MODIFIED, now)
        if not replication:
            self._send(
                ReplicationAction.STATUS_UPDATE, instance, status=status, last_dirty=last_dirty_ts
            )
        return instance

    def delete_status_override(
        self,
        app: str,
        instance_id: str,
        fallback: InstanceStatus = InstanceStatus.UNKNOWN,
        *,
        last_dirty_ts: int | None = None,
        replication: bool = False,
    ) -> InstanceInfo:
        lease = self._lease(app, instance_id)
        instance = lease.holder
        self._overrides.pop(instance_id, None)
        instance.overridden_status = InstanceStatus.UNKNOWN
        instance.status = fallback
        if last_dirty_ts is not None and last_dirty_ts > instance.last_dirty_ts:
            instance.last_dirty_ts = last_dirty_ts
        self._changed(instance, ActionType.MODIFIED, self._clock.now())
        if not replication:
            self._send(
                ReplicationAction.DELETE_STATUS_OVERRIDE,
                instance,
                status=fallback,
                last_dirty=last_dirty_ts,
            )
        return instance

    def update_metadata(self, app: str, instance_id: str, changes: dict[str, str]) -> InstanceInfo:
        """Eureka merges the pairs then re-registers the instance, which peers see as a register."""
        lease = self._lease(app, instance_id)
        instance = lease.holder
        instance.metadata.update(changes)
        instance.last_dirty_ts = millis(self._clock.now())
        self._changed(instance, ActionType.MODIFIED, self._clock.now())
        self._send(ReplicationAction.REGISTER, instance, copy=instance.copy())
        return instance

    # ---- timers -----------------------------------------------------------------------------

    def lease_expiration_enabled(self) -> bool:
        if not self._config.self_preservation:
            return True
        return self.renewal_threshold > 0 and self._renewals.last_window() > self.renewal_threshold

    def in_self_preservation(self) -> bool:
        """True when renewals fell to or below the threshold, so nothing is being evicted.

        Only reported once a whole window was measured after the threshold last rose: new
        instances raise the threshold at once but renew for a full window only from the next,
        so right after a start (or a scale-up) the count is low for no bad reason."""
        return (
            self._config.self_preservation
            and self._renewals.has_complete_window(since=self._threshold_raised_at)
            and self.renewal_threshold > 0
            and self._renewals.last_window() <= self.renewal_threshold
        )

    def evict(self, additional_s: float = 0.0) -> list[InstanceInfo]:
        """One eviction pass. Evicts at most 15 % of the registry (the renewal percent) per pass,
        chosen at random, so a network partition cannot empty the registry in one go."""
        preserving = self.in_self_preservation()
        if preserving != self.self_preservation_logged:
            self.self_preservation_logged = preserving
            if preserving:
                log.warning(
                    "EMERGENCY: self-preservation on: %d renewals in the last window <= threshold "
                    "%d; instances are not being expired",
                    self._renewals.last_window(),
                    self.renewal_threshold,
                )
            else:
                log.info("self-preservation off: renewals are above the threshold again")
        if not self.lease_expiration_enabled():
            return []
        now = self._clock.now()
        expired = [lease for lease in self._all_leases() if lease.is_expired(now, additional_s)]
        if not expired:
            return []
        size = sum(len(apps) for apps in self._leases.values())
        limit = size - int(size * self._config.renewal_percent_threshold)
        count = min(len(expired), limit)
        if count < len(expired):
            log.warning("evicting %d of %d expired leases this pass", count, len(expired))
        chosen = self._rng.sample(expired, count)
        evicted = []
        for lease in chosen:
            instance = lease.holder
            log.warning("evicting %s/%s: lease expired", instance.app, instance.instance_id)
            self._remove(instance.app, instance.instance_id, reason="evicted")
            evicted.append(instance)
        self.evicted_total += len(evicted)
        return evicted

    def update_renewal_threshold(self) -> None:
        """Eureka's periodic recount: only raise the expected count when the registry did not
        shrink by more than the renewal percent, so a mass outage cannot lower the bar."""
        count = sum(len(apps) for apps in self._leases.values())
        if (
            count > self._config.renewal_percent_threshold * self.expected_clients
            or not self._config.self_preservation
        ):
            self.expected_clients = count
            self._update_threshold()

    def clean_recent_changes(self) -> None:
        horizon = self._clock.now() - self._config.delta_retention_s
        trimmed = False
        while self._recent and self._recent[0].at < horizon:
            self._recent.popleft()
            trimmed = True
        if trimmed:
            self.generation += 1  # the delta document changed

    def refuse_reads_for(self, seconds: float) -> None:
        self._reads_allowed_after = self._clock.monotonic() + seconds

    def reads_allowed(self) -> bool:
        return self._clock.monotonic() >= self._reads_allowed_after

    # ---- reads ------------------------------------------------------------------------------

    def applications(self) -> Applications:
        """The full registry, sharing the live instance objects: encode it, do not keep it."""
        result = Applications(apps={}, apps_hashcode=self.hashcode())
        for app in sorted(self._leases):
            leases = self._leases[app]
            if leases:
                result.apps[app] = {iid: lease.holder for iid, lease in leases.items()}
        return result

    def delta(self) -> Applications:
        self.clean_recent_changes()
        self.delta_version += 1
        result = Applications(versions_delta=self.delta_version, apps_hashcode=self.hashcode())
        for change in self._recent:  # later changes of the same instance replace earlier ones
            result.add(change.instance)
        return result

    def application(self, app: str) -> Application:
        leases = self._leases.get(app)
        if not leases:
            raise NotFoundError(f"application {app} is not registered")
        return Application(app, {iid: lease.holder for iid, lease in leases.items()})

    def by_vip(self, vip: str, *, secure: bool = False) -> Applications:
        """Instances whose (secure) VIP list names `vip`; an empty document when none do."""
        result = Applications()
        for lease in self._all_leases():
            address = lease.holder.secure_vip_address if secure else lease.holder.vip_address
            if vip in address.split(","):
                result.add(lease.holder)
        # The hashcode of what is returned, not of the registry (getApplicationsForVip).
        result.apps_hashcode = result.reconcile_hashcode()
        return result

    def instance(self, app: str, instance_id: str) -> InstanceInfo:
        return self._lease(app, instance_id).holder

    def instance_by_id(self, instance_id: str) -> InstanceInfo:
        for leases in self._leases.values():
            lease = leases.get(instance_id)
            if lease is not None:
                return lease.holder
        raise NotFoundError(f"instance {instance_id} is not registered")

    def hashcode(self) -> str:
        return reconcile_hashcode(lease.holder for lease in self._all_leases())

    def size(self) -> int:
        return sum(len(apps) for apps in self._leases.values())

    def status(self) -> dict[str, Any]:
        return {
            "instances": self.size(),
            "applications": len([a for a in self._leases.values() if a]),
            "expected_clients": self.expected_clients,
            "renewal_threshold": self.renewal_threshold,
            "renewals_last_window": self._renewals.last_window(),
            "renewal_window_s": self._config.renewal_window_s,
            "self_preservation_enabled": self._config.self_preservation,
            "self_preservation_mode": self.in_self_preservation(),
            "lease_expiration_enabled": self.lease_expiration_enabled(),
            "evicted_total": self.evicted_total,
            "renewals_total": self.renewals_total,
            "recent_changes": len(self._recent),
            "apps_hashcode": self.hashcode(),
        }

    # ---- internals --------------------------------------------------------------------------

    def _all_leases(self) -> Iterator[Lease]:
        for leases in self._leases.values():
            yield from leases.values()

    def _lease(self, app: str, instance_id: str) -> Lease:
        lease = self._leases.get(app, {}).get(instance_id)
        if lease is None:
            raise NotFoundError(f"instance {app}/{instance_id} is not registered")
        return lease

    def _remove(self, app: str, instance_id: str, *, reason: str) -> None:
        leases = self._leases.get(app, {})
        lease = leases.pop(instance_id, None)
        if lease is None:
            raise NotFoundError(f"instance {app}/{instance_id} is not registered")
        if not leases:
            self._leases.pop(app, None)
        now = self._clock.now()
        lease.cancel(now)
        self._overrides.pop(instance_id, None)
        if self.expected_clients > 0:
            self.expected_clients -= 1
            self._update_threshold()
        self._changed(lease.holder, ActionType.DELETED, now)
        log.info("removed %s/%s: %s", app, instance_id, reason)

    def _effective_status(
        self, instance: InstanceInfo, existing: Lease | None, replication: bool
    ) -> InstanceStatus:
        """Eureka's override rules in order: an instance saying DOWN or STARTING is believed;
        then an override set through the status endpoint; then, for a client's own register,
        an UP/OUT_OF_SERVICE status the registry already holds; else what the instance says."""
        if instance.status not in (InstanceStatus.UP, InstanceStatus.OUT_OF_SERVICE):
            return instance.status
        override = self._overrides.get(instance.instance_id)
        if override is not None:
            return override
        if (
            not replication
            and existing is not None
            and existing.holder is not instance
            and existing.holder.status in (InstanceStatus.UP, InstanceStatus.OUT_OF_SERVICE)
            and existing.holder.overridden_status != InstanceStatus.UNKNOWN
        ):
            return existing.holder.status
        return instance.status

    def _changed(self, instance: InstanceInfo, action: ActionType, now: float) -> None:
        instance.action_type = action
        instance.last_updated_ts = millis(now)
        self._recent.append(RecentChange(now, instance.copy()))
        self.generation += 1

    def _update_threshold(self) -> None:
        per_window = self._config.renewal_window_s / self._config.lease_renewal_interval_s
        threshold = int(self.expected_clients * per_window * self._config.renewal_percent_threshold)
        if threshold > self.renewal_threshold:
            self._threshold_raised_at = self._clock.monotonic()
        self.renewal_threshold = threshold

    def _send(
        self,
        action: ReplicationAction,
        instance: InstanceInfo,
        *,
        copy: InstanceInfo | None = None,
        status: InstanceStatus | None = None,
        last_dirty: int | None = None,
    ) -> None:
        if self._replicate is None:
            return
        self._replicate(
            ReplicationTask(
                action=action,
                app=instance.app,
                instance_id=instance.instance_id,
                instance=copy,
                status=status or instance.status,
                overridden_status=instance.overridden_status,
                last_dirty_ts=last_dirty if last_dirty is not None else instance.last_dirty_ts,
            )
        )

    def _send_ids(self, action: ReplicationAction, app: str, instance_id: str) -> None:
        if self._replicate is not None:
            self._replicate(ReplicationTask(action=action, app=app, instance_id=instance_id))
