"""Eureka's JSON encoding (EurekaJacksonCodec): `{"instance": ...}`, `{"application": ...}` and
`{"applications": ...}`.

Encoding follows the Java server's output so Java, Spring and Python clients all parse it;
decoding accepts both the Jackson form (lists, `{"$": n, "@enabled": ...}`) and the older
XStream form (a single object where a list is expected, plain numbers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.eureka import fields
from reelcloud.platform.eureka.model import (
    ActionType,
    Application,
    Applications,
    DataCenterInfo,
    InstanceInfo,
    InstanceStatus,
    LeaseInfo,
)

EMPTY_MAP = {"@class": "java.util.Collections$EmptyMap"}


def instance_to_dict(instance: InstanceInfo) -> dict[str, Any]:
    lease = instance.lease_info
    dci: dict[str, Any] = {
        "@class": instance.data_center_info.class_name,
        "name": instance.data_center_info.name,
    }
    if instance.data_center_info.metadata:
        dci["metadata"] = instance.data_center_info.metadata
    doc: dict[str, Any] = {
        "instanceId": instance.instance_id,
        "hostName": instance.host_name,
        "app": instance.app,
        "ipAddr": instance.ip_addr,
        "status": instance.status.value,
        "overriddenStatus": instance.overridden_status.value,
        "port": {"$": instance.port, "@enabled": _flag(instance.port_enabled)},
        "securePort": {"$": instance.secure_port, "@enabled": _flag(instance.secure_port_enabled)},
        "countryId": instance.country_id,
        "dataCenterInfo": dci,
        "leaseInfo": {
            "renewalIntervalInSecs": lease.renewal_interval_s,
            "durationInSecs": lease.duration_s,
            "registrationTimestamp": lease.registration_ts,
            "lastRenewalTimestamp": lease.last_renewal_ts,
            "evictionTimestamp": lease.eviction_ts,
            "serviceUpTimestamp": lease.service_up_ts,
        },
        "metadata": instance.metadata or EMPTY_MAP,
        "homePageUrl": instance.home_page_url,
        "statusPageUrl": instance.status_page_url,
        "healthCheckUrl": instance.health_check_url,
        "vipAddress": instance.vip_address,
        "secureVipAddress": instance.secure_vip_address,
        "isCoordinatingDiscoveryServer": _flag(instance.is_coordinating_discovery_server),
        "lastUpdatedTimestamp": str(instance.last_updated_ts),
        "lastDirtyTimestamp": str(instance.last_dirty_ts),
    }
    if instance.secure_health_check_url:
        doc["secureHealthCheckUrl"] = instance.secure_health_check_url
    if instance.action_type is not None:
        doc["actionType"] = instance.action_type.value
    if instance.asg_name:
        doc["asgName"] = instance.asg_name
    if instance.app_group_name:
        doc["appGroupName"] = instance.app_group_name
    return doc


def application_to_dict(name: str, instances: Iterable[InstanceInfo]) -> dict[str, Any]:
    # Jackson writes the instances as a list even when there is one (ApplicationSerializer).
    return {"name": name, "instance": [instance_to_dict(i) for i in instances]}


def applications_to_dict(
    apps: Iterable[tuple[str, Iterable[InstanceInfo]]], *, versions_delta: int, hashcode: str
) -> dict[str, Any]:
    return {
        "applications": {
            "versions__delta": str(versions_delta),
            "apps__hashcode": hashcode,
            "application": [application_to_dict(name, instances) for name, instances in apps],
        }
    }


def encode_instance(instance: InstanceInfo) -> bytes:
    return orjson.dumps({"instance": instance_to_dict(instance)})


def encode_application(application: Application) -> bytes:
    return orjson.dumps(
        {"application": application_to_dict(application.name, application.instances.values())}
    )


def encode_applications(applications: Applications) -> bytes:
    return orjson.dumps(
        applications_to_dict(
            _sorted_apps(applications),
            versions_delta=applications.versions_delta,
            hashcode=applications.apps_hashcode,
        )
    )


def _sorted_apps(applications: Applications) -> list[tuple[str, list[InstanceInfo]]]:
    return [(name, list(applications.apps[name].values())) for name in sorted(applications.apps)]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _load(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"malformed JSON: {exc}") from exc


def decode_instance(body: bytes) -> InstanceInfo:
    doc = _load(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("instance"), dict):
        raise BadRequestError('body must be a JSON object with an "instance" object')
    return instance_from_dict(doc["instance"])


def instance_from_dict(raw: dict[str, Any]) -> InstanceInfo:
    host_name = fields.text(raw.get("hostName"), "hostName")
    # InstanceInfo.getId(): the instance id, or the host name when there is none.
    instance_id = fields.text(raw.get("instanceId"), "instanceId") or host_name
    fields.require(instance_id, "Missing instanceId")
    fields.require(host_name, "Missing hostname")
    ip_addr = fields.require(fields.text(raw.get("ipAddr"), "ipAddr"), "Missing ip address")
    app = fields.require(fields.text(raw.get("app"), "app"), "Missing appName").upper()

    dci_raw = raw.get("dataCenterInfo")
    if not isinstance(dci_raw, dict):
        raise BadRequestError("Missing dataCenterInfo")
    dci = DataCenterInfo(
        name=fields.require(
            fields.text(dci_raw.get("name"), "dataCenterInfo.name"), "Missing dataCenterInfo Name"
        ),
        class_name=fields.text(dci_raw.get("@class"), "dataCenterInfo.@class")
        or DataCenterInfo().class_name,
        metadata=fields.metadata(_mapping(dci_raw.get("metadata")), "dataCenterInfo.metadata"),
    )
    lease_raw = _mapping(raw.get("leaseInfo"))
    lease = LeaseInfo(
        renewal_interval_s=fields.integer(
            lease_raw.get("renewalIntervalInSecs"), "leaseInfo.renewalIntervalInSecs", 30
        ),
        duration_s=fields.integer(lease_raw.get("durationInSecs"), "leaseInfo.durationInSecs", 90),
        registration_ts=fields.integer(lease_raw.get("registrationTimestamp"), "leaseInfo"),
        last_renewal_ts=fields.integer(lease_raw.get("lastRenewalTimestamp"), "leaseInfo"),
        eviction_ts=fields.integer(lease_raw.get("evictionTimestamp"), "leaseInfo"),
        service_up_ts=fields.integer(lease_raw.get("serviceUpTimestamp"), "leaseInfo"),
    )
    port, port_enabled = _port(raw.get("port"), "port", 7001, True)
    secure_port, secure_enabled = _port(raw.get("securePort"), "securePort", 7002, False)
    overridden = raw.get("overriddenStatus", raw.get("overriddenstatus"))
    action = raw.get("actionType")
    return InstanceInfo(
        instance_id=instance_id,
        app=app,
        host_name=host_name,
        ip_addr=ip_addr,
        status=InstanceStatus.parse(raw.get("status", "UP")),
        overridden_status=InstanceStatus.parse(overridden or "UNKNOWN"),
        port=port,
        port_enabled=port_enabled,
        secure_port=secure_port,
        secure_port_enabled=secure_enabled,
        vip_address=fields.text(raw.get("vipAddress"), "vipAddress"),
        secure_vip_address=fields.text(raw.get("secureVipAddress"), "secureVipAddress"),
        home_page_url=fields.text(raw.get("homePageUrl"), "homePageUrl"),
        status_page_url=fields.text(raw.get("statusPageUrl"), "statusPageUrl"),
        health_check_url=fields.text(raw.get("healthCheckUrl"), "healthCheckUrl"),
        secure_health_check_url=fields.text(
            raw.get("secureHealthCheckUrl"), "secureHealthCheckUrl"
        ),
        country_id=fields.integer(raw.get("countryId"), "countryId", 1),
        data_center_info=dci,
        lease_info=lease,
        metadata=fields.metadata(_mapping(raw.get("metadata")), "metadata"),
        is_coordinating_discovery_server=fields.boolean(raw.get("isCoordinatingDiscoveryServer")),
        last_updated_ts=fields.integer(raw.get("lastUpdatedTimestamp"), "lastUpdatedTimestamp"),
        last_dirty_ts=fields.integer(raw.get("lastDirtyTimestamp"), "lastDirtyTimestamp"),
        action_type=ActionType(str(action)) if action in ActionType.__members__ else None,
        asg_name=fields.text(raw.get("asgName"), "asgName") or None,
        app_group_name=fields.text(raw.get("appGroupName"), "appGroupName") or None,
    )


def decode_application(body: bytes) -> Application:
    doc = _load(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("application"), dict):
        raise BadRequestError('body must be a JSON object with an "application" object')
    return application_from_dict(doc["application"])


def application_from_dict(raw: dict[str, Any]) -> Application:
    name = fields.require(fields.text(raw.get("name"), "name"), "application has no name")
    result = Application(name=name)
    for instance in _instances(raw):
        result.add(instance)
    return result


def decode_applications(body: bytes) -> Applications:
    doc = _load(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("applications"), dict):
        raise BadRequestError('body must be a JSON object with an "applications" object')
    return applications_from_dict(doc["applications"])


def applications_from_dict(raw: dict[str, Any]) -> Applications:
    result = Applications(
        versions_delta=fields.integer(raw.get("versions__delta"), "versions__delta"),
        apps_hashcode=fields.text(raw.get("apps__hashcode"), "apps__hashcode"),
    )
    for app in _list(raw.get("application")):
        if not isinstance(app, dict):
            raise BadRequestError("application entries must be objects")
        for instance in _instances(app):
            result.add(instance)
    return result


def _instances(app: dict[str, Any]) -> list[InstanceInfo]:
    result = []
    for instance in _list(app.get("instance")):
        if not isinstance(instance, dict):
            raise BadRequestError("instance entries must be objects")
        result.append(instance_from_dict(instance))
    return result


def _port(value: object, name: str, default: int, enabled: bool) -> tuple[int, bool]:
    if isinstance(value, dict):
        return (
            fields.integer(value.get("$"), name, default),
            fields.boolean(value.get("@enabled"), enabled),
        )
    return fields.integer(value, name, default), enabled


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
