import pytest
from aiohttp.test_utils import make_mocked_request

from reelcloud.apis.play.api import OPERATIONS, caller
from reelcloud.apis.play.models import Caller
from reelcloud.platform.errors import BadRequestError, UnauthenticatedError
from reelcloud.platform.openapi import fragment

SIGNED_IN = {"X-Reelcloud-Member": "m-1", "X-Reelcloud-Session": "s-1"}


def test_the_openapi_fragment_describes_every_route_with_its_models():
    described = fragment("play-api", OPERATIONS)
    assert set(described["paths"]) == {
        "/api/play",
        "/api/play/{play_id}/master.m3u8",
        "/api/play/{play_id}/media/{pathway}/{file}",
        "/api/play/{play_id}/manifest.mpd",
        "/api/play/{play_id}/heartbeat",
        "/api/play/{play_id}/stop",
    }
    play = described["paths"]["/api/play"]["post"]
    assert {"200", "401", "403", "404", "409", "503"} <= set(play["responses"])
    schemas = described["components"]["schemas"]
    assert {"PlayRequest", "PlayResponse", "OcaChoice", "Heartbeat", "ErrorBody"} <= set(schemas)
    assert schemas["PlayResponse"]["properties"]["steering_fallback"]["type"] == "boolean"


def request_with(**headers):
    return make_mocked_request("POST", "/api/play", headers=headers)


def test_the_caller_is_who_and_where_the_gateway_says():
    who = caller(
        request_with(**{
            "X-Reelcloud-Member": "m-1", "X-Reelcloud-Session": "s-1",
            "X-Forwarded-For": "10.0.0.1, 127.10.0.5", "X-Reelcloud-Network": "127.20.0.9",
        })
    )  # fmt: skip
    assert who == Caller("m-1", "s-1", client_address="127.10.0.5", network="127.20.0.9")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"X-Reelcloud-Member": "m-1"}, UnauthenticatedError),  # no session: not believed
        ({**SIGNED_IN, "X-Reelcloud-Network": "isp-a"}, BadRequestError),
        ({**SIGNED_IN, "X-Forwarded-For": "somewhere"}, BadRequestError),
    ],
)
def test_a_caller_without_a_session_or_with_a_bad_address_is_refused(headers, error):
    with pytest.raises(error):
        caller(request_with(**headers))
