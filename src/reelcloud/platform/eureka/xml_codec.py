"""Eureka's XML encoding, the default when a request does not accept JSON.

Real Eureka clients (the Java client's XML path, py-eureka-client) send no Accept header and
parse this. Encoding is string building, because ElementTree is several times slower for the
10,000-instance documents a full fetch returns.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

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

HEADER = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


def _el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def instance_xml(instance: InstanceInfo) -> str:
    lease = instance.lease_info
    dci = instance.data_center_info
    dci_meta = ""
    if dci.metadata:
        dci_meta = (
            "<metadata>" + "".join(_el(k, v) for k, v in dci.metadata.items()) + "</metadata>"
        )
    if instance.metadata:
        meta = "<metadata>" + "".join(_el(k, v) for k, v in instance.metadata.items())
    else:
        meta = '<metadata class="java.util.Collections$EmptyMap">'
    parts = [
        "<instance>",
        _el("instanceId", instance.instance_id),
        _el("hostName", instance.host_name),
        _el("app", instance.app),
        _el("ipAddr", instance.ip_addr),
        _el("status", instance.status.value),
        _el("overriddenstatus", instance.overridden_status.value),
        f'<port enabled="{_flag(instance.port_enabled)}">{instance.port}</port>',
        f'<securePort enabled="{_flag(instance.secure_port_enabled)}">'
        f"{instance.secure_port}</securePort>",
        _el("countryId", instance.country_id),
        f"<dataCenterInfo class={quoteattr(dci.class_name)}>{_el('name', dci.name)}{dci_meta}"
        "</dataCenterInfo>",
        "<leaseInfo>",
        _el("renewalIntervalInSecs", lease.renewal_interval_s),
        _el("durationInSecs", lease.duration_s),
        _el("registrationTimestamp", lease.registration_ts),
        _el("lastRenewalTimestamp", lease.last_renewal_ts),
        _el("evictionTimestamp", lease.eviction_ts),
        _el("serviceUpTimestamp", lease.service_up_ts),
        "</leaseInfo>",
        meta,
        "</metadata>",
        _el("homePageUrl", instance.home_page_url),
        _el("statusPageUrl", instance.status_page_url),
        _el("healthCheckUrl", instance.health_check_url),
    ]
    if instance.secure_health_check_url:
        parts.append(_el("secureHealthCheckUrl", instance.secure_health_check_url))
    parts += [
        _el("vipAddress", instance.vip_address),
        _el("secureVipAddress", instance.secure_vip_address),
        _el("isCoordinatingDiscoveryServer", _flag(instance.is_coordinating_discovery_server)),
        _el("lastUpdatedTimestamp", instance.last_updated_ts),
        _el("lastDirtyTimestamp", instance.last_dirty_ts),
    ]
    if instance.action_type is not None:
        parts.append(_el("actionType", instance.action_type.value))
    if instance.asg_name:
        parts.append(_el("asgName", instance.asg_name))
    if instance.app_group_name:
        parts.append(_el("appGroupName", instance.app_group_name))
    parts.append("</instance>")
    return "".join(parts)


def encode_instance(instance: InstanceInfo) -> bytes:
    return (HEADER + instance_xml(instance)).encode()


def application_xml(name: str, instances: Iterable[InstanceInfo]) -> str:
    return (
        "<application>"
        + _el("name", name)
        + "".join(instance_xml(instance) for instance in instances)
        + "</application>"
    )


def encode_application(application: Application) -> bytes:
    return (HEADER + application_xml(application.name, application.instances.values())).encode()


def applications_xml(
    apps: Iterable[tuple[str, Iterable[InstanceInfo]]], *, versions_delta: int, hashcode: str
) -> str:
    parts = [
        HEADER,
        "<applications>",
        _el("versions__delta", versions_delta),
        _el("apps__hashcode", hashcode),
    ]
    parts.extend(application_xml(name, instances) for name, instances in apps)
    parts.append("</applications>")
    return "".join(parts)


def encode_applications(applications: Applications) -> bytes:
    apps = [(name, list(applications.apps[name].values())) for name in sorted(applications.apps)]
    return applications_xml(
        apps, versions_delta=applications.versions_delta, hashcode=applications.apps_hashcode
    ).encode()


def _parse(body: bytes) -> ET.Element:
    # Python's bundled expat refuses entity-expansion bombs and never fetches external
    # entities, so ElementTree is safe for the 1 MiB bodies the registry accepts.
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise BadRequestError(f"malformed XML: {exc}") from exc


def decode_instance(body: bytes) -> InstanceInfo:
    root = _parse(body)
    if root.tag != "instance":
        raise BadRequestError(f"XML root must be <instance>, got <{root.tag[:40]}>")
    return instance_from_element(root)


def instance_from_element(node: ET.Element) -> InstanceInfo:
    def child(name: str) -> str:
        found = node.find(name)
        return fields.text(found.text if found is not None else None, name).strip()

    host_name = child("hostName")
    instance_id = child("instanceId") or host_name
    fields.require(instance_id, "Missing instanceId")
    fields.require(host_name, "Missing hostname")
    ip_addr = fields.require(child("ipAddr"), "Missing ip address")
    app = fields.require(child("app"), "Missing appName").upper()

    dci_node = node.find("dataCenterInfo")
    if dci_node is None:
        raise BadRequestError("Missing dataCenterInfo")
    dci_name = dci_node.find("name")
    dci = DataCenterInfo(
        name=fields.require(
            fields.text(dci_name.text if dci_name is not None else None, "dataCenterInfo.name"),
            "Missing dataCenterInfo Name",
        ),
        class_name=dci_node.get("class") or DataCenterInfo().class_name,
        metadata=_metadata(dci_node.find("metadata"), "dataCenterInfo.metadata"),
    )
    lease_node = node.find("leaseInfo")

    def lease(name: str, default: int = 0) -> int:
        found = lease_node.find(name) if lease_node is not None else None
        return fields.integer(found.text if found is not None else None, name, default)

    port, port_enabled = _port(node.find("port"), "port", 7001, True)
    secure_port, secure_enabled = _port(node.find("securePort"), "securePort", 7002, False)
    overridden = child("overriddenstatus") or child("overriddenStatus") or "UNKNOWN"
    action = child("actionType")
    return InstanceInfo(
        instance_id=instance_id,
        app=app,
        host_name=host_name,
        ip_addr=ip_addr,
        status=InstanceStatus.parse(child("status") or "UP"),
        overridden_status=InstanceStatus.parse(overridden),
        port=port,
        port_enabled=port_enabled,
        secure_port=secure_port,
        secure_port_enabled=secure_enabled,
        vip_address=child("vipAddress"),
        secure_vip_address=child("secureVipAddress"),
        home_page_url=child("homePageUrl"),
        status_page_url=child("statusPageUrl"),
        health_check_url=child("healthCheckUrl"),
        secure_health_check_url=child("secureHealthCheckUrl"),
        country_id=fields.integer(child("countryId"), "countryId", 1),
        data_center_info=dci,
        lease_info=LeaseInfo(
            renewal_interval_s=lease("renewalIntervalInSecs", 30),
            duration_s=lease("durationInSecs", 90),
            registration_ts=lease("registrationTimestamp"),
            last_renewal_ts=lease("lastRenewalTimestamp"),
            eviction_ts=lease("evictionTimestamp"),
            service_up_ts=lease("serviceUpTimestamp"),
        ),
        metadata=_metadata(node.find("metadata"), "metadata"),
        is_coordinating_discovery_server=fields.boolean(child("isCoordinatingDiscoveryServer")),
        last_updated_ts=fields.integer(child("lastUpdatedTimestamp"), "lastUpdatedTimestamp"),
        last_dirty_ts=fields.integer(child("lastDirtyTimestamp"), "lastDirtyTimestamp"),
        action_type=ActionType(action) if action in ActionType.__members__ else None,
        asg_name=child("asgName") or None,
        app_group_name=child("appGroupName") or None,
    )


def decode_application(body: bytes) -> Application:
    root = _parse(body)
    if root.tag != "application":
        raise BadRequestError(f"XML root must be <application>, got <{root.tag[:40]}>")
    name = root.find("name")
    result = Application(
        name=fields.require(
            fields.text(name.text if name is not None else None, "name").strip(),
            "application has no name",
        )
    )
    for instance in root.findall("instance"):
        result.add(instance_from_element(instance))
    return result


def decode_applications(body: bytes) -> Applications:
    root = _parse(body)
    if root.tag != "applications":
        raise BadRequestError(f"XML root must be <applications>, got <{root.tag[:40]}>")
    delta = root.find("versions__delta")
    hashcode = root.find("apps__hashcode")
    result = Applications(
        versions_delta=fields.integer(delta.text if delta is not None else None, "versions__delta"),
        apps_hashcode=(hashcode.text or "") if hashcode is not None else "",
    )
    for app in root.findall("application"):
        for instance in app.findall("instance"):
            result.add(instance_from_element(instance))
    return result


def _port(node: ET.Element | None, name: str, default: int, enabled: bool) -> tuple[int, bool]:
    if node is None:
        return default, enabled
    return (
        fields.integer(node.text, name, default),
        fields.boolean(node.get("enabled"), enabled),
    )


def _metadata(node: ET.Element | None, name: str) -> dict[str, str]:
    if node is None:
        return {}
    return fields.metadata({child.tag: child.text or "" for child in node}, name)
