import gzip

import orjson
import pytest
from py_eureka_client import eureka_basic
from tests.support.factories import instance

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.eureka import (
    ActionType,
    Applications,
    InstanceStatus,
    json_codec,
    xml_codec,
)
from reelcloud.platform.eureka.model import reconcile_hashcode


def _sample() -> Applications:
    apps = Applications(versions_delta=7, apps_hashcode="DOWN_1_UP_2_")
    apps.add(instance("CATALOG", 1))
    apps.add(instance("CATALOG", 2, status=InstanceStatus.DOWN))
    other = instance("PLAY-API", 1, zone="z2")
    other.metadata["management.port"] = "9100"
    other.action_type = ActionType.ADDED
    apps.add(other)
    return apps


@pytest.mark.parametrize("codec", [json_codec, xml_codec])
def test_applications_round_trip(codec):
    apps = _sample()
    decoded = codec.decode_applications(codec.encode_applications(apps))
    assert decoded.versions_delta == 7
    assert decoded.apps_hashcode == "DOWN_1_UP_2_"
    assert {i.instance_id for i in decoded} == {i.instance_id for i in apps}
    play = decoded.get("PLAY-API", "host:play-api:1")
    assert play is not None
    assert play.zone == "z2"
    assert play.metadata["management.port"] == "9100"
    assert play.action_type is ActionType.ADDED
    assert decoded.get("CATALOG", "host:catalog:2").status is InstanceStatus.DOWN


def test_json_uses_eureka_field_shapes():
    doc = orjson.loads(json_codec.encode_instance(instance()))["instance"]
    assert doc["port"] == {"$": 9001, "@enabled": "true"}
    assert doc["securePort"]["@enabled"] == "false"
    assert doc["dataCenterInfo"]["@class"].endswith("DefaultDataCenterInfo")
    assert doc["lastDirtyTimestamp"] == "1000"
    assert doc["overriddenStatus"] == "UNKNOWN"


def test_json_accepts_xstream_single_objects_and_plain_numbers():
    raw = {
        "applications": {
            "versions__delta": 1,
            "apps__hashcode": "UP_1_",
            "application": {
                "name": "A",
                "instance": {
                    "hostName": "h",
                    "app": "a",
                    "ipAddr": "10.0.0.1",
                    "port": 8080,
                    "dataCenterInfo": {"name": "MyOwn"},
                    "metadata": {"@class": "java.util.Collections$EmptyMap"},
                },
            },
        }
    }
    apps = json_codec.decode_applications(orjson.dumps(raw))
    only = next(iter(apps))
    assert only.instance_id == "h"  # no instanceId: Eureka falls back to the host name
    assert only.app == "A"
    assert only.port == 8080
    assert only.metadata == {}


def test_empty_metadata_is_written_as_java_empty_map():
    bare = instance()
    bare.metadata = {}
    assert orjson.loads(json_codec.encode_instance(bare))["instance"]["metadata"] == {
        "@class": "java.util.Collections$EmptyMap"
    }
    assert b'<metadata class="java.util.Collections$EmptyMap">' in xml_codec.encode_instance(bare)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"[]", '"instance" object'),
        (
            b'{"instance": {"hostName": "h", "app": "A", "dataCenterInfo": {"name": "x"}}}',
            "ip address",
        ),
        (
            b'{"instance": {"hostName": "h", "ipAddr": "1", "dataCenterInfo": {"name": "x"}}}',
            "appName",
        ),
        (b'{"instance": {"hostName": "h", "ipAddr": "1", "app": "A"}}', "Missing dataCenterInfo"),
        (
            b'{"instance": {"hostName": "h", "ipAddr": "1", "app": "A", "dataCenterInfo": {}}}',
            "Name",
        ),
        (
            b'{"instance": {"hostName": "h", "ipAddr": "1", "app": "A", "dataCenterInfo": {"name": "x"},'
            b' "port": {"$": "eighty"}}}',
            "port must be an integer",
        ),
        (
            b'{"instance": {"hostName": "h", "ipAddr": "1", "app": "A", "dataCenterInfo": {"name": "x"},'
            b' "metadata": {"<script>": "x"}}}',
            "not a valid name",
        ),
        (
            b'{"instance": {"hostName": "h", "ipAddr": {"nested": 1}, "app": "A",'
            b' "dataCenterInfo": {"name": "x"}}}',
            "ipAddr must be a string",
        ),
    ],
)
def test_bad_json_instances_are_rejected_with_a_clear_message(body, message):
    with pytest.raises(BadRequestError, match=message):
        json_codec.decode_instance(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<instance><hostName>h</hostName>", "malformed XML"),
        (b"<application/>", "root must be <instance>"),
        (
            b"<instance><hostName>h</hostName><ipAddr>1</ipAddr><app>A</app></instance>",
            "dataCenterInfo",
        ),
        (
            b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
            b"<instance><hostName>&d;</hostName></instance>",
            "longer than",
        ),
    ],
)
def test_bad_xml_instances_are_rejected(body, message):
    with pytest.raises(BadRequestError, match=message):
        xml_codec.decode_instance(body)


def test_xml_escapes_hostile_text():
    hostile = instance()
    hostile.home_page_url = "http://x/?a=1&b=<2>"
    decoded = xml_codec.decode_instance(xml_codec.encode_instance(hostile))
    assert decoded.home_page_url == "http://x/?a=1&b=<2>"


def test_real_eureka_client_parses_our_xml():
    """py-eureka-client parses registry documents with ElementTree; feed it ours."""
    import xml.etree.ElementTree as ET

    body = xml_codec.encode_applications(_sample())
    parsed = eureka_basic._build_applications(ET.fromstring(body))
    assert parsed.apps__hashcode == "DOWN_1_UP_2_"
    catalog = parsed.get_application("CATALOG")
    assert sorted(i.instanceId for i in catalog.instances) == ["host:catalog:1", "host:catalog:2"]
    play = parsed.get_application("PLAY-API").instances[0]
    assert play.port.port == 9001
    assert play.port.enabled is True
    assert play.metadata["zone"] == "z2"
    assert play.dataCenterInfo.name == "MyOwn"


def test_hashcode_counts_statuses_sorted_by_name():
    apps = _sample()
    assert reconcile_hashcode(apps) == "DOWN_1_UP_2_"
    assert reconcile_hashcode([]) == ""


def test_gzip_is_transparent_to_the_codec():
    body = json_codec.encode_applications(_sample())
    assert json_codec.decode_applications(gzip.decompress(gzip.compress(body))).apps_hashcode
