"""Eureka's wire model and its two encodings (JSON and XML).

Shared by the registry server and the discovery client, so both speak exactly the format real
Eureka servers and clients use (see docs/architecture.md, "Registry").
"""

from reelcloud.platform.eureka.model import (
    ActionType,
    Application,
    Applications,
    DataCenterInfo,
    InstanceInfo,
    InstanceStatus,
    LeaseInfo,
)

__all__ = [
    "ActionType",
    "Application",
    "Applications",
    "DataCenterInfo",
    "InstanceInfo",
    "InstanceStatus",
    "LeaseInfo",
]
