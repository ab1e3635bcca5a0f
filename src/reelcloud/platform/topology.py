"""The world as one YAML file: regions, zones, registry peers, engines and service instances.

The launcher, the discovery client and (later) steering and fill all read the same file. A
default ships in the package (`reelcloud/topology/default.yaml`); `--topology FILE` or
`REELCLOUD_TOPOLOGY_FILE` names another.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reelcloud.platform.errors import ConfigurationError

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegistryPeer(_Model):
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    zone: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/eureka/"


class RegistryConfig(_Model):
    """Eureka's server and client timings. Defaults are Eureka's own (LeaseInfo,
    DefaultEurekaServerConfig, DefaultEurekaClientConfig); tests shrink them to seconds."""

    peers: list[RegistryPeer] = Field(min_length=1)
    lease_renewal_interval_s: float = Field(default=30.0, gt=0)
    lease_duration_s: float = Field(default=90.0, gt=0)
    eviction_interval_s: float = Field(default=60.0, gt=0)
    self_preservation: bool = True
    renewal_percent_threshold: float = Field(default=0.85, gt=0, le=1)
    # Eureka measures renewals per minute; the window is configurable so tests run in seconds.
    renewal_window_s: float = Field(default=60.0, gt=0)
    renewal_threshold_update_interval_s: float = Field(default=900.0, gt=0)
    delta_retention_s: float = Field(default=180.0, gt=0)
    delta_cleanup_interval_s: float = Field(default=30.0, gt=0)
    # Eureka serves full fetches from a read-only cache refreshed every 30 s; 0 serves the
    # read-write cache directly (invalidated on every change), which is what one machine wants.
    response_cache_update_interval_s: float = Field(default=0.0, ge=0)
    response_cache_expiry_s: float = Field(default=180.0, gt=0)
    # Eureka refuses reads for 5 min when its start-up sync found nothing; 0 turns that off.
    wait_when_sync_empty_s: float = Field(default=0.0, ge=0)
    peer_sync_retries: int = Field(default=5, ge=0)
    peer_sync_retry_wait_s: float = Field(default=30.0, ge=0)
    registry_fetch_interval_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=8.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> RegistryConfig:
        if self.lease_duration_s <= self.lease_renewal_interval_s:
            raise ValueError("lease_duration_s must be longer than lease_renewal_interval_s")
        return self


class EngineConfig(_Model):
    enabled: bool = True


class MemcachedConfig(_Model):
    enabled: bool = False  # off: services cache in-process
    nodes_per_zone: int = Field(default=1, ge=1, le=16)
    memory_mb: int = Field(default=64, ge=8)


class EnginesConfig(_Model):
    postgres: EngineConfig = EngineConfig()
    nats: EngineConfig = EngineConfig()
    seaweedfs: EngineConfig = EngineConfig()  # the S3 origin
    # The event pipeline's Kafka (Tansu, its log in the S3 store): off unless asked for, like
    # memcached, so a topology that names only the engines it uses gets no broker.
    kafka: EngineConfig = EngineConfig(enabled=False)
    memcached: MemcachedConfig = MemcachedConfig()


class ServiceConfig(_Model):
    """One service of the platform and how many instances of it run here."""

    name: str
    entrypoint: str  # "package.module:function" returning the service's aiohttp app
    instances: int = Field(default=1, ge=0, le=64)
    layer: int = Field(default=1, ge=1)  # started after every lower layer is ready
    port: int = Field(default=0, ge=0, le=65535)  # 0: any free port, found via the registry
    host: str = "127.0.0.1"
    # Whether it keeps its own PostgreSQL database: the launcher makes the database and a role
    # that owns it, and hands only this service that role's URL.
    database: bool = False
    # Service-specific options, validated by the service's own settings model.
    options: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check(self) -> ServiceConfig:
        if not SERVICE_NAME.match(self.name):
            raise ValueError(f"service name {self.name!r} must be lower-case letters, digits, '-'")
        if ":" not in self.entrypoint:
            raise ValueError(f"entrypoint {self.entrypoint!r} must look like 'module:function'")
        if self.name == "registry":
            raise ValueError("'registry' is reserved: registry peers are set under 'registry:'")
        return self


class DemoCatalogConfig(_Model):
    """Titles made from ffmpeg test sources, published on the first start of an empty origin."""

    enabled: bool = True
    titles: int = Field(default=6, ge=0, le=6)
    seconds: int = Field(default=40, ge=4, le=120)


class IspConfig(_Model):
    """An ISP and the client prefixes it announces to the OCAs embedded in it."""

    name: str
    prefixes: list[str] = Field(min_length=1)


class SiteConfig(_Model):
    """A place OCAs stand: embedded in an ISP's network, or at an internet exchange (IXP)."""

    name: str
    kind: Literal["embedded", "ixp"]
    isp: str | None = None  # embedded sites: the ISP whose prefixes they serve
    # Client prefixes this site's OCAs serve; an embedded site defaults to its ISP's.
    prefixes: list[str] = []
    # Sites this site fills from (tier fill), nearest first; none: straight from the origin.
    upstreams: list[str] = []


class OcaConfig(_Model):
    """One Open Connect appliance: an address of its own, a disk, a fill window and a cap."""

    id: str
    site: str
    address: str
    kind: Literal["storage", "offload"] = "offload"
    capacity_bytes: int = Field(gt=0)
    # Local time of day, Netflix's default window 02:00-14:00; new titles fill at any time.
    fill_window: tuple[time, time] = (time(2, 0), time(14, 0))
    fill_rate_bytes_per_s: int = Field(default=50_000_000, gt=0)

    def in_fill_window(self, now: time) -> bool:
        start, end = self.fill_window
        if start == end:  # the whole day
            return True
        if start < end:
            return start <= now < end
        return now >= start or now < end  # a window across midnight


class OpenConnectConfig(_Model):
    enabled: bool = True
    port: int = Field(default=8700, ge=1, le=65535)  # every OCA on its own address, same port
    report_interval_s: float = Field(default=5.0, gt=0)
    stale_after_reports: int = Field(default=3, ge=1)
    fill_poll_interval_s: float = Field(default=10.0, gt=0)
    url_ttl_s: int = Field(default=6 * 3600, gt=0)
    # URL-signing keys by id; the last one signs, all of them verify (rotation by id). Both
    # secrets normally come from the data directory's secrets file (REELCLOUD_URL_SIGNING_KEYS,
    # REELCLOUD_OCA_REPORT_SECRET), which replace what a topology file holds.
    signing_keys: dict[str, str] = {}
    # Each OCA's report key is derived from this and its id.
    report_secret: str = ""
    # The OCA every play may fall back to: it fills anything it is asked for from the origin.
    origin_oca: str
    isps: list[IspConfig] = []
    sites: list[SiteConfig] = []
    ocas: list[OcaConfig] = []

    def url_keys(self) -> dict[str, str]:
        """The URL-signing keys; a process that signs or checks URLs cannot start without."""
        if not self.signing_keys or not all(self.signing_keys.values()):
            raise ConfigurationError(
                "no URL-signing keys: set REELCLOUD_URL_SIGNING_KEYS (`reelcloud up` passes "
                "the data directory's)"
            )
        return self.signing_keys

    def report_key(self) -> str:
        """The secret OCA report keys derive from; required by OCAs and cache control."""
        if len(self.report_secret) < 16:
            raise ConfigurationError(
                "no OCA report secret of 16 characters or more: set REELCLOUD_OCA_REPORT_SECRET "
                "(`reelcloud up` passes the data directory's)"
            )
        return self.report_secret

    @model_validator(mode="after")
    def _check(self) -> OpenConnectConfig:
        isps = {isp.name for isp in self.isps}
        sites = {site.name: site for site in self.sites}
        for isp in self.isps:
            for prefix in isp.prefixes:
                _network(prefix)
        for site in self.sites:
            if site.kind == "embedded" and site.isp not in isps:
                raise ValueError(f"embedded site {site.name!r} names unknown isp {site.isp!r}")
            for prefix in site.prefixes:
                _network(prefix)
            unknown = [u for u in site.upstreams if u not in sites or u == site.name]
            if unknown:
                raise ValueError(f"site {site.name!r} has unknown upstreams {unknown}")
        ids = [oca.id for oca in self.ocas]
        if len(set(ids)) != len(ids):
            raise ValueError("OCA ids must be unique")
        for oca in self.ocas:
            if oca.site not in sites:
                raise ValueError(f"OCA {oca.id!r} is in unknown site {oca.site!r}")
            ipaddress.ip_address(oca.address)
        if self.ocas and self.origin_oca not in ids:
            raise ValueError(f"origin_oca {self.origin_oca!r} is not one of the OCAs")
        return self

    def site(self, name: str) -> SiteConfig:
        return next(site for site in self.sites if site.name == name)

    def oca(self, oca_id: str) -> OcaConfig:
        for oca in self.ocas:
            if oca.id == oca_id:
                return oca
        raise ConfigurationError(f"OCA {oca_id!r} is not in the topology")

    def served_prefixes(self, site: SiteConfig) -> list[str]:
        """What a site's OCAs announce (in reality learned over BGP from the ISP)."""
        if site.prefixes:
            return list(site.prefixes)
        return [p for isp in self.isps if isp.name == site.isp for p in isp.prefixes]


def _network(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(prefix)
    except ValueError as exc:
        raise ValueError(f"{prefix!r} is not a network prefix: {exc}") from exc


class Topology(_Model):
    name: str = "local"
    region: str = "local-1"
    zones: list[str] = Field(min_length=1)
    registry: RegistryConfig
    engines: EnginesConfig = EnginesConfig()
    demo_catalog: DemoCatalogConfig = DemoCatalogConfig()
    services: list[ServiceConfig] = []
    openconnect: OpenConnectConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> Topology:
        names = [s.name for s in self.services]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"services listed twice: {sorted(dupes)}")
        for peer in self.registry.peers:
            if peer.zone not in self.zones:
                raise ValueError(f"registry peer zone {peer.zone!r} is not one of {self.zones}")
        return self

    def service(self, name: str) -> ServiceConfig:
        for service in self.services:
            if service.name == name:
                return service
        raise ConfigurationError(f"service {name!r} is not in topology {self.name!r}")

    def zone_for(self, index: int) -> str:
        """Spread instances over zones the way an autoscaling group spreads over AZs."""
        return self.zones[index % len(self.zones)]

    @property
    def registry_urls(self) -> list[str]:
        return [peer.url for peer in self.registry.peers]


def default_topology_path() -> Path:
    return Path(str(resources.files("reelcloud") / "topology" / "default.yaml"))


def load_topology(path: Path | None = None) -> Topology:
    path = path or default_topology_path()
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read topology {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"topology {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(f"topology {path} must be a YAML mapping")
    try:
        return Topology.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ConfigurationError(f"topology {path}: {where}: {first['msg']}") from exc
