import gzip

import orjson
import pytest
from py_eureka_client import eureka_basic
from tests.support.factories import instance

from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.eureka import (
    ActionType,
    Application,
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


def _catalog() -> Application:
    app = Application("CATALOG")
    app.add(instance("CATALOG", 1))
    app.add(instance("CATALOG", 2, status=InstanceStatus.OUT_OF_SERVICE))
    return app


@pytest.mark.parametrize("codec", [json_codec, xml_codec])
def test_application_round_trip(codec):
    decoded = codec.decode_application(codec.encode_application(_catalog()))
    assert decoded.name == "CATALOG"
    assert sorted(decoded.instances) == ["host:catalog:1", "host:catalog:2"]
    assert decoded.instances["host:catalog:2"].status is InstanceStatus.OUT_OF_SERVICE
    assert decoded.instances["host:catalog:1"].metadata == {"zone": "z1"}


def test_one_application_is_rooted_at_application_as_in_eureka():
    doc = orjson.loads(json_codec.encode_application(_catalog()))
    assert list(doc) == ["application"]
    assert doc["application"]["name"] == "CATALOG"
    assert [i["instanceId"] for i in doc["application"]["instance"]] == [
        "host:catalog:1",
        "host:catalog:2",
    ]
    single = Application("CATALOG")
    single.add(instance("CATALOG", 1))
    # Jackson writes a list even for one instance.
    assert isinstance(
        orjson.loads(json_codec.encode_application(single))["application"]["instance"], list
    )
    body = xml_codec.encode_application(_catalog())
    assert body.startswith(b"<?xml")
    assert b"<application><name>CATALOG</name><instance>" in body
    assert b"<applications>" not in body


def test_real_eureka_client_parses_our_single_application():
    import xml.etree.ElementTree as ET

    parsed = eureka_basic._build_application(
        ET.fromstring(xml_codec.encode_application(_catalog()))
    )
    assert parsed is not None  # None is what it returned for an <applications> document
    assert parsed.name == "CATALOG"
    by_id = {i.instanceId: i for i in parsed.instances}
    assert by_id["host:catalog:2"].status == "OUT_OF_SERVICE"
    assert by_id["host:catalog:1"].port.port == 9001
    assert by_id["host:catalog:1"].dataCenterInfo.className.endswith("DefaultDataCenterInfo")


def test_json_application_accepts_an_xstream_single_instance():
    raw = {"application": {"name": "A", "instance": {"hostName": "h", "app": "A", "ipAddr": "1",
                                                      "dataCenterInfo": {"name": "MyOwn"}}}}  # fmt: skip
    assert list(json_codec.decode_application(orjson.dumps(raw)).instances) == ["h"]


@pytest.mark.parametrize(
    ("codec", "body", "message"),
    [
        (json_codec, b'{"applications": {}}', '"application" object'),
        (json_codec, b'{"application": {"instance": []}}', "no name"),
        (json_codec, b'{"application": {"name": "A", "instance": [1]}}', "must be objects"),
        (xml_codec, b"<applications/>", "root must be <application>"),
        (xml_codec, b"<application><instance/></application>", "no name"),
        (xml_codec, b"<application><name>A</name>", "malformed XML"),
    ],
)
def test_bad_application_documents_are_rejected(codec, body, message):
    with pytest.raises(BadRequestError, match=message):
        codec.decode_application(body)
