"""The discovery client: registers this process with the registry and finds other services.

It keeps the last good copy of the registry, so calls keep resolving while every registry
peer is down, and it drops an instance locally as soon as connecting to it fails.
"""

from reelcloud.platform.discovery.balancer import ZoneAwareRoundRobin
from reelcloud.platform.discovery.client import (
    DiscoveryClient,
    build_instance_info,
    registry_authorization,
)
from reelcloud.platform.discovery.http import ServiceHttpClient

__all__ = [
    "DiscoveryClient",
    "ServiceHttpClient",
    "ZoneAwareRoundRobin",
    "build_instance_info",
    "registry_authorization",
]
