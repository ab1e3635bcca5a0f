from reelcloud.platform.openapi import fragment
from reelcloud.platform.signed_urls import SCOPE
from reelcloud.services.license.api import OPERATIONS


def test_the_key_route_is_described_as_bytes_for_a_token():
    key = fragment("license", OPERATIONS)["paths"]["/api/license/key/{title_id}"]["get"]
    assert key["responses"]["200"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }
    assert {"400", "403", "404"} <= set(key["responses"])
    assert key["parameters"][0]["schema"]["pattern"] == SCOPE.pattern
    assert [(p["name"], p["in"], p["required"]) for p in key["parameters"]] == [
        ("title_id", "path", True),
        ("t", "query", False),
    ]
