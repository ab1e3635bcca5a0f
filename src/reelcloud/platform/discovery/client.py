"""Eureka client behaviour: register, renew, cancel; fetch the registry, then deltas.

Follows DiscoveryClient.java where it matters to callers:
- requests go to the first registry URL that works and stick to it (same-zone URLs first);
- a renew answered 404 means the registry lost us: register again;
- deltas are merged and checked against the server's apps hashcode; a mismatch means a full
  fetch;
- the last good copy stays in use whatever happens to the registries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from reelcloud.platform.clock import Clock, SystemClock, millis
from reelcloud.platform.credentials import basic_authorization
from reelcloud.platform.discovery.balancer import ZoneAwareRoundRobin
from reelcloud.platform.errors import (
    BadRequestError,
    NoInstancesError,
    ReelcloudError,
    UnavailableError,
)
from reelcloud.platform.eureka import (
    ActionType,
    Applications,
    DataCenterInfo,
    InstanceInfo,
    InstanceStatus,
    LeaseInfo,
    json_codec,
)

log = logging.getLogger(__name__)


def build_instance_info(
    *,
    service: str,
    instance_id: str,
    host: str,
    port: int,
    zone: str,
    renewal_interval_s: float,
    lease_duration_s: float,
    metadata: dict[str, str] | None = None,
    clock: Clock | None = None,
) -> InstanceInfo:
    base = f"http://{host}:{port}"
    now_ms = millis((clock or SystemClock()).now())
    return InstanceInfo(
        instance_id=instance_id,
        app=service.upper(),
        host_name=host,
        ip_addr=host,
        status=InstanceStatus.UP,
        port=port,
        vip_address=service,
        secure_vip_address=service,
        home_page_url=base + "/",
        status_page_url=base + "/info",
        health_check_url=base + "/healthz",
        data_center_info=DataCenterInfo(name="MyOwn"),
        lease_info=LeaseInfo(
            renewal_interval_s=max(1, round(renewal_interval_s)),
            duration_s=max(1, round(lease_duration_s)),
        ),
        metadata={"zone": zone, **(metadata or {})},
        last_updated_ts=now_ms,
        last_dirty_ts=now_ms,
    )


def registry_authorization(user: str, password: str) -> str | None:
    """The `Authorization` header a process with this registry credential sends (None: it has
    none, and the registry will refuse it)."""
    return basic_authorization(user, password) if user else None


@dataclass(slots=True)
class _Quarantine:
    until: float
    registration_ts: int


class DiscoveryClient:
    def __init__(
        self,
        registry_urls: Sequence[str],
        *,
        zone: str,
        instance: InstanceInfo | None = None,
        fetch_registry: bool = True,
        renewal_interval_s: float = 30.0,
        fetch_interval_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 8.0,
        quarantine_s: float = 30.0,
        clock: Clock | None = None,
        authorization: str | None = None,
    ) -> None:
        if not registry_urls:
            raise ValueError("a discovery client needs at least one registry URL")
        self._urls = [u if u.endswith("/") else u + "/" for u in registry_urls]
        # This process's registry credential (`Authorization: Basic ...`), sent on every call:
        # the registry refuses anything without one.
        self.authorization = authorization
        self._current = 0
        self.instance = instance
        self._fetch = fetch_registry
        self._renewal_interval_s = renewal_interval_s
        self._fetch_interval_s = fetch_interval_s
        self._quarantine_s = quarantine_s
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self._clock = clock or SystemClock()
        self._balancer = ZoneAwareRoundRobin(zone)
        self._apps = Applications()
        self._quarantined: dict[str, _Quarantine] = {}
        # Usable instances per app, valid until the copy or the quarantine changes: choosing
        # an instance is on every proxied request's path.
        self._usable: dict[str, list[InstanceInfo]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.registered = False
        self.last_fetch_at = 0.0
        self.full_fetches = 0
        self.delta_fetches = 0

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Register and fetch once (neither has to succeed), then renew and refresh forever."""
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        if self.authorization is None:
            log.warning(
                "no registry credential (REELCLOUD_REGISTRY_USER and _PASSWORD): "
                "the registry will refuse this process's calls"
            )
        if self.instance is not None:
            await self._try_register()
            self._tasks.append(asyncio.create_task(self._heartbeat_loop()))
        if self._fetch:
            with contextlib.suppress(ReelcloudError):
                await self.fetch_full()
            self._tasks.append(asyncio.create_task(self._refresh_loop()))

    async def aclose(self, *, cancel_timeout_s: float = 1.0, deregister: bool = True) -> None:
        """Stop the loops and take this instance out of the registry (unless `deregister` is
        false: then the instance just stops renewing, as if its process had died)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if (
            deregister
            and self.instance is not None
            and self.registered
            and self._session is not None
        ):
            try:
                async with asyncio.timeout(cancel_timeout_s):
                    await self._request(
                        "DELETE", f"apps/{self.instance.app}/{self.instance.instance_id}"
                    )
                self.registered = False
                log.info("cancelled registration of %s", self.instance.instance_id)
            except (ReelcloudError, TimeoutError):
                log.warning("could not cancel registration; the lease will expire")
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- own registration -------------------------------------------------------------------

    async def register(self) -> None:
        assert self.instance is not None
        await self._request(
            "POST",
            f"apps/{self.instance.app}",
            body=json_codec.encode_instance(self.instance),
            ok=(200, 204),
        )
        self.registered = True
        log.info("registered %s/%s", self.instance.app, self.instance.instance_id)

    async def renew(self) -> None:
        """One heartbeat; a 404 means the registry does not know us, so register again."""
        assert self.instance is not None
        path = f"apps/{self.instance.app}/{self.instance.instance_id}"
        status = await self._request(
            "PUT",
            path,
            params={
                "status": self.instance.status.value,
                "lastDirtyTimestamp": str(self.instance.last_dirty_ts),
            },
            ok=(200, 404),
        )
        if status == 404:
            log.info("registry answered 404 to a renew: registering again")
            await self.register()

    async def set_status(self, status: InstanceStatus) -> None:
        """Change our own status the way the Java client does: mark dirty, register again."""
        assert self.instance is not None
        self.instance.status = status
        self.instance.last_dirty_ts = millis(self._clock.now())
        await self.register()

    async def _try_register(self) -> None:
        try:
            await self.register()
        except ReelcloudError as exc:
            log.warning("no registry took our registration yet (%s); will retry", exc)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._renewal_interval_s)
            try:
                if self.registered:
                    await self.renew()
                else:
                    await self.register()
            except ReelcloudError as exc:
                log.warning("heartbeat failed: %s", exc)

    # ---- registry copy ----------------------------------------------------------------------

    async def fetch_full(self) -> None:
        body = await self._get("apps/")
        apps = json_codec.decode_applications(body)
        self._apps = apps
        self._usable = {}
        self.last_fetch_at = self._clock.now()
        self.full_fetches += 1

    async def fetch_delta(self) -> None:
        """Merge the delta; if the merged copy's hashcode differs from the server's, fetch all."""
        delta = json_codec.decode_applications(await self._get("apps/delta"))
        self.delta_fetches += 1
        merged = Applications(
            apps={app: dict(instances) for app, instances in self._apps.apps.items()}
        )
        for instance in delta:
            if instance.action_type is ActionType.DELETED:
                merged.remove(instance.app, instance.instance_id)
            else:
                merged.add(instance)
        merged.apps_hashcode = merged.reconcile_hashcode()
        if merged.apps_hashcode != delta.apps_hashcode:
            log.info(
                "delta hashcode %s != server %s: full fetch",
                merged.apps_hashcode,
                delta.apps_hashcode,
            )
            await self.fetch_full()
            return
        self._apps = merged
        self._usable = {}
        self.last_fetch_at = self._clock.now()

    async def refresh(self) -> None:
        if not self._apps.apps and not self.full_fetches:
            await self.fetch_full()
        else:
            await self.fetch_delta()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._fetch_interval_s)
            try:
                await self.refresh()
            except ReelcloudError as exc:
                log.warning("registry refresh failed, keeping the last good copy: %s", exc)

    # ---- lookups ----------------------------------------------------------------------------

    @property
    def applications(self) -> Applications:
        return self._apps

    def instances(self, service: str, *, usable_only: bool = True) -> list[InstanceInfo]:
        """Instances of a service: by default only UP ones not quarantined locally."""
        if not usable_only:
            return self._apps.instances(service.upper())
        if not self._quarantined:
            cached = self._usable.get(service)
            if cached is not None:
                return cached
        found = self._apps.instances(service.upper())
        now = self._clock.monotonic()
        usable = [
            i for i in found if i.status is InstanceStatus.UP and not self._is_quarantined(i, now)
        ]
        if not self._quarantined:
            self._usable[service] = usable
        return usable

    def choose(self, service: str) -> InstanceInfo:
        chosen = self._balancer.choose(service.upper(), self.instances(service))
        if chosen is None:
            raise NoInstancesError(f"no usable instance of {service}")
        return chosen

    def mark_unreachable(self, instance: InstanceInfo) -> None:
        """Connecting failed: stop choosing this instance until it registers again or the
        quarantine runs out (by then the registry has likely evicted it)."""
        self._quarantined[instance.instance_id] = _Quarantine(
            until=self._clock.monotonic() + self._quarantine_s,
            registration_ts=instance.lease_info.registration_ts,
        )
        self._usable = {}
        log.info("dropped %s locally: connection failed", instance.instance_id)

    def _is_quarantined(self, instance: InstanceInfo, now: float) -> bool:
        entry = self._quarantined.get(instance.instance_id)
        if entry is None:
            return False
        if now >= entry.until or instance.lease_info.registration_ts != entry.registration_ts:
            del self._quarantined[instance.instance_id]
            return False
        return True

    # ---- transport --------------------------------------------------------------------------

    async def _get(self, path: str) -> bytes:
        result: list[bytes] = []
        await self._request("GET", path, sink=result)
        return result[0]

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        ok: tuple[int, ...] = (200,),
        sink: list[bytes] | None = None,
    ) -> int:
        """Send to the current registry, failing over to the next on connection errors, 5xx,
        and 403 (a registry refusing reads after an empty start-up sync)."""
        if self._session is None:
            raise UnavailableError("discovery client is not started")
        errors = []
        for attempt in range(len(self._urls)):
            index = (self._current + attempt) % len(self._urls)
            url = self._urls[index] + path
            try:
                async with self._session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=self._headers(),
                ) as response:
                    if response.status in ok:
                        if sink is not None:
                            sink.append(await response.read())
                        self._current = index
                        return response.status
                    text = (await response.text())[:200]
                    if response.status < 500 and response.status != 403:
                        raise BadRequestError(f"{method} {url}: {response.status} {text}")
                    errors.append(f"{url}: {response.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors.append(f"{url}: {type(exc).__name__}")
        raise UnavailableError("no registry answered: " + "; ".join(errors))


def order_by_zone(peers: Sequence[tuple[str, str]], zone: str) -> list[str]:
    """Registry URLs with those in our own zone first (Eureka's preferSameZoneEureka)."""
    return [url for url, z in peers if z == zone] + [url for url, z in peers if z != zone]
