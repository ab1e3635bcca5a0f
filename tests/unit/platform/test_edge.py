"""What the services believe of the gateway's headers."""

import pytest

from reelcloud.platform.edge import (
    FORWARDED_FOR_HEADER,
    MEMBER_HEADER,
    SESSION_HEADER,
    caller,
    client_address,
)
from reelcloud.platform.errors import UnauthenticatedError


def test_a_caller_is_a_member_and_a_session():
    assert caller({MEMBER_HEADER: "m-1", SESSION_HEADER: "s-1"}) == ("m-1", "s-1")


@pytest.mark.parametrize(
    "headers",
    [
        {MEMBER_HEADER: "m-1"},  # a token without a session cannot be signed out
        {SESSION_HEADER: "s-1"},
        {MEMBER_HEADER: "", SESSION_HEADER: "s-1"},
        {},
    ],
)
def test_a_member_without_a_session_is_not_believed(headers):
    with pytest.raises(UnauthenticatedError, match="sign in first"):
        caller(headers)


def test_the_client_is_the_right_most_forwarded_address():
    headers = {FORWARDED_FOR_HEADER: "6.6.6.6, 198.51.100.7"}
    assert client_address(headers, "127.0.0.1") == "198.51.100.7"
    assert client_address({}, "127.0.0.5") == "127.0.0.5"
    assert client_address({}, None) == "127.0.0.1"
