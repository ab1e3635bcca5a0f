"""Builders for test data: registry configs, topologies and instances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reelcloud.launcher.engines import free_port as launcher_free_port
from reelcloud.platform.credentials import basic_authorization, service_password
from reelcloud.platform.discovery import DiscoveryClient, build_instance_info
from reelcloud.platform.eureka import DataCenterInfo, InstanceInfo, InstanceStatus, LeaseInfo
from reelcloud.platform.topology import (
    RegistryConfig,
    RegistryPeer,
    Topology,
    default_topology_path,
)

FAST_REGISTRY: dict[str, Any] = {
    "lease_renewal_interval_s": 1,
    "lease_duration_s": 3,
    "eviction_interval_s": 0.5,
    "renewal_window_s": 2,
    "renewal_threshold_update_interval_s": 5,
    "delta_cleanup_interval_s": 1,
    "peer_sync_retries": 2,
    "peer_sync_retry_wait_s": 0.3,
    "registry_fetch_interval_s": 0.5,
    "connect_timeout_s": 1,
    "read_timeout_s": 2,
}


# The registry secret of registries a test starts itself (not `reelcloud up`, whose secrets
# file holds a generated one).
TEST_REGISTRY_SECRET = "test-registry-secret"


# What engines and jobs a test starts itself are given (`reelcloud up` makes its own).
TEST_S3_ACCESS_KEY = "test-access-key"
TEST_S3_SECRET_KEY = "test-s3-secret-key-0123456789"
TEST_CONTENT_KEK = "test-content-kek-0123456789"
# The session secret of gateways and services a test starts itself.
TEST_SESSION_SECRET = "test-session-secret-0123456789"


def registry_credential(user: str) -> dict[str, str]:
    """Settings fields giving a process of service `user` its credential at a test registry."""
    return {
        "registry_user": user,
        "registry_password": service_password(TEST_REGISTRY_SECRET, user),
    }


def registry_env(user: str) -> dict[str, str]:
    """The same credential as the environment of a `reelcloud run` process."""
    return {f"REELCLOUD_{k.upper()}": v for k, v in registry_credential(user).items()}


def registry_auth(user: str) -> dict[str, str]:
    """Headers carrying `user`'s credential to a test registry."""
    return {
        "Authorization": basic_authorization(user, registry_credential(user)["registry_password"])
    }


def free_port() -> int:
    """A free port for a server a test names on the command line or in a topology (below the
    ephemeral range, as the launcher picks its engines' ports)."""
    return launcher_free_port()


def registry_config(**overrides: Any) -> RegistryConfig:
    values: dict[str, Any] = {
        "peers": [RegistryPeer(port=8761, zone="z1")],
        "lease_renewal_interval_s": 30,
        "lease_duration_s": 90,
        "renewal_window_s": 60,
    }
    values.update(overrides)
    return RegistryConfig(**values)


def instance(
    app: str = "CATALOG",
    number: int = 1,
    *,
    status: InstanceStatus = InstanceStatus.UP,
    zone: str = "z1",
    dirty: int = 1000,
    port: int | None = None,
) -> InstanceInfo:
    return InstanceInfo(
        instance_id=f"host:{app.lower()}:{number}",
        app=app,
        host_name="127.0.0.1",
        ip_addr="127.0.0.1",
        status=status,
        port=port or 9000 + number,
        vip_address=app.lower(),
        secure_vip_address=app.lower(),
        data_center_info=DataCenterInfo(),
        lease_info=LeaseInfo(renewal_interval_s=30, duration_s=90),
        metadata={"zone": zone},
        last_dirty_ts=dirty,
    )


def topology_dict(
    peer_ports: list[int], services: list[dict[str, Any]] | None = None, **registry: Any
) -> dict[str, Any]:
    zones = ["z1", "z2"]
    return {
        "name": "test",
        "region": "test-1",
        "zones": zones,
        "registry": {
            "peers": [
                {"host": "127.0.0.1", "port": port, "zone": zones[i % 2]}
                for i, port in enumerate(peer_ports)
            ],
            **FAST_REGISTRY,
            **registry,
        },
        "engines": {
            "postgres": {"enabled": False},
            "nats": {"enabled": False},
            "seaweedfs": {"enabled": False},
        },
        "demo_catalog": {"enabled": False},
        "services": services or [],
    }


def topology(peer_ports: list[int], **registry: Any) -> Topology:
    return Topology.model_validate(topology_dict(peer_ports, **registry))


def write_topology(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def discovery_client(
    registry_urls: list[str],
    service: str,
    number: int,
    *,
    fetch: bool = False,
    zone: str = "z1",
    port: int | None = None,
    registry_secret: str = TEST_REGISTRY_SECRET,
) -> DiscoveryClient:
    """A discovery client for instance `host:SERVICE:NUMBER`, with test timings, carrying
    SERVICE's credential at a registry holding `registry_secret`."""
    return DiscoveryClient(
        registry_urls,
        zone=zone,
        instance=build_instance_info(
            service=service,
            instance_id=f"host:{service}:{number}",
            host="127.0.0.1",
            port=port or 20000 + number,
            zone=zone,
            renewal_interval_s=FAST_REGISTRY["lease_renewal_interval_s"],
            lease_duration_s=FAST_REGISTRY["lease_duration_s"],
        ),
        fetch_registry=fetch,
        renewal_interval_s=FAST_REGISTRY["lease_renewal_interval_s"],
        fetch_interval_s=0.3,
        connect_timeout_s=0.5,
        read_timeout_s=1,
        quarantine_s=60,
        authorization=basic_authorization(service, service_password(registry_secret, service)),
    )


def openconnect_dict(port: int = 8700, **overrides: Any) -> dict[str, Any]:
    """The default topology's Open Connect world (2 ISPs x 2 embedded OCAs, 1 IXP storage OCA),
    with test timings."""
    doc: dict[str, Any] = {
        "port": port,
        "report_interval_s": 0.5,
        "stale_after_reports": 3,
        "fill_poll_interval_s": 0.3,
        "url_ttl_s": 600,
        "signing_keys": {"k1": "test-url-key"},
        "report_secret": "test-report-secret-0123456789",
        "origin_oca": "oca-ixp-1",
        "isps": [
            {"name": "isp-a", "prefixes": ["127.10.0.0/16"]},
            {"name": "isp-b", "prefixes": ["127.20.0.0/16"]},
        ],
        "sites": [
            {"name": "isp-a-1", "kind": "embedded", "isp": "isp-a", "upstreams": ["ixp-1"]},
            {"name": "isp-b-1", "kind": "embedded", "isp": "isp-b", "upstreams": ["ixp-1"]},
            {"name": "ixp-1", "kind": "ixp", "prefixes": ["0.0.0.0/0"]},
        ],
        "ocas": [
            {
                "id": "oca-a-1",
                "site": "isp-a-1",
                "address": "127.10.255.1",
                "capacity_bytes": 10**8,
            },
            {
                "id": "oca-a-2",
                "site": "isp-a-1",
                "address": "127.10.255.2",
                "capacity_bytes": 10**8,
            },
            {
                "id": "oca-b-1",
                "site": "isp-b-1",
                "address": "127.20.255.1",
                "capacity_bytes": 10**8,
            },
            {
                "id": "oca-b-2",
                "site": "isp-b-1",
                "address": "127.20.255.2",
                "capacity_bytes": 10**8,
            },
            {
                "id": "oca-ixp-1",
                "site": "ixp-1",
                "address": "127.30.255.1",
                "kind": "storage",
                "capacity_bytes": 10**9,
            },
        ],
    }
    doc.update(overrides)
    return doc


def shipped_topology_dict() -> dict[str, Any]:
    """The packaged topology as `reelcloud up` runs it, on ports free right now (so a test
    platform never meets a developer's running one)."""
    doc: dict[str, Any] = yaml.safe_load(default_topology_path().read_text())
    for peer in doc["registry"]["peers"]:
        peer["port"] = free_port()
    gateway = next(s for s in doc["services"] if s["name"] == "gateway")
    gateway["options"]["listen_port"] = free_port()
    doc["openconnect"]["port"] = free_port()
    for service in doc["services"]:
        if service.get("port"):  # a fixed address, as the card processor has
            service["port"] = free_port()
    return doc
