"""From the topology to the list of instances to run, each with its layer and environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from reelcloud.platform.settings import Settings

REGISTRY_LAYER = 1
OCA_SERVICE = "oca"
OCA_LAYER = 3  # after cache control (layer 2 in the default topology), before the gateway


@dataclass(frozen=True)
class InstancePlan:
    service: str
    index: int  # 1-based within the service
    instance_id: str
    layer: int
    zone: str
    host: str
    port: int
    env: dict[str, str] = field(default_factory=dict)


def instance_id(hostname: str, service: str, index: int) -> str:
    """Eureka-style ids (`host:app:n`): unique across machines, stable across restarts."""
    return f"{hostname}:{service}:{index}"


def _env(
    settings: Settings, service: str, iid: str, zone: str, host: str, port: int
) -> dict[str, str]:
    env = {
        "REELCLOUD_SERVICE": service,
        "REELCLOUD_INSTANCE_ID": iid,
        "REELCLOUD_ZONE": zone,
        "REELCLOUD_HOST": host,
        "REELCLOUD_PORT": str(port),
        "REELCLOUD_DATA_DIR": str(settings.data_dir),
        "REELCLOUD_LOG_LEVEL": settings.log_level,
    }
    if settings.topology_file is not None:
        env["REELCLOUD_TOPOLOGY_FILE"] = str(settings.topology_file)
    return env


def registry_instances(settings: Settings) -> list[InstancePlan]:
    plans = []
    for index, peer in enumerate(settings.topology.registry.peers, start=1):
        iid = instance_id(settings.hostname, "registry", index)
        plans.append(
            InstancePlan(
                service="registry",
                index=index,
                instance_id=iid,
                layer=REGISTRY_LAYER,
                zone=peer.zone,
                host=peer.host,
                port=peer.port,
                env=_env(settings, "registry", iid, peer.zone, peer.host, peer.port),
            )
        )
    return plans


def service_instance(settings: Settings, service: str, index: int) -> InstancePlan:
    config = settings.topology.service(service)
    zone = settings.topology.zone_for(index - 1)
    iid = instance_id(settings.hostname, service, index)
    env = _env(settings, service, iid, zone, config.host, config.port)
    if config.port:
        # Several instances on one fixed port: the kernel balances between them.
        env["REELCLOUD_REUSE_PORT"] = "true"
    return InstancePlan(
        service=service,
        index=index,
        instance_id=iid,
        layer=REGISTRY_LAYER + config.layer,
        zone=zone,
        host=config.host,
        port=config.port,
        env=env,
    )


def oca_instances(settings: Settings) -> list[InstancePlan]:
    """One process per OCA of the topology, each on its own loopback address."""
    config = settings.topology.openconnect
    if config is None or not config.enabled:
        return []
    plans = []
    for index, oca in enumerate(config.ocas, start=1):
        zone = settings.topology.zone_for(index - 1)
        iid = instance_id(settings.hostname, OCA_SERVICE, index)
        env = _env(settings, OCA_SERVICE, iid, zone, oca.address, 0)
        env["REELCLOUD_OCA_ID"] = oca.id
        plans.append(
            InstancePlan(
                service=OCA_SERVICE,
                index=index,
                instance_id=iid,
                layer=REGISTRY_LAYER + OCA_LAYER,
                zone=zone,
                host=oca.address,
                port=0,
                env=env,
            )
        )
    return plans


def service_instances(settings: Settings) -> list[InstancePlan]:
    services = [
        service_instance(settings, service.name, index)
        for service in settings.topology.services
        for index in range(1, service.instances + 1)
    ]
    return services + oca_instances(settings)
