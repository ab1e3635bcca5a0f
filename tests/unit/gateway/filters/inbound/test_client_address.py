"""Who the client is: the socket's peer, or the right-most untrusted X-Forwarded-For hop."""

import pytest
from tests.unit.gateway.filters.contexts import context

from reelcloud.gateway.filters.inbound.client_address import ClientAddressFilter

PROXY = "10.0.0.1"  # the load balancer right in front of the gateway
INNER_PROXY = "10.0.0.2"  # a proxy in front of that one
TRUSTED = frozenset({PROXY, INNER_PROXY})


def address(peer: str, *forwarded: str) -> str:
    ctx = context(peer=peer, headers=[("X-Forwarded-For", line) for line in forwarded])
    ClientAddressFilter(TRUSTED).apply(ctx)
    return ctx.client_address


def test_without_a_forwarded_header_the_socket_peer_is_the_client():
    assert address("203.0.113.9") == "203.0.113.9"
    assert address(PROXY) == PROXY


def test_an_untrusted_peer_cannot_name_another_address():
    assert address("203.0.113.9", "198.51.100.7") == "203.0.113.9"


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client():
    assert address(PROXY, "198.51.100.7") == "198.51.100.7"
    assert address(PROXY, f"198.51.100.7, {INNER_PROXY}") == "198.51.100.7"


def test_what_the_client_wrote_left_of_its_own_address_is_not_believed():
    # The client sent "X-Forwarded-For: 127.0.0.1, 10.0.0.2"; the proxy appended its address.
    assert address(PROXY, f"127.0.0.1, {INNER_PROXY}, 198.51.100.7") == "198.51.100.7"


def test_a_forged_line_before_the_proxys_own_line_is_not_believed():
    # A proxy that adds its own X-Forwarded-For line (HAProxy's `option forwardfor`) after
    # the one the client sent: the lines are one list, in order.
    assert address(PROXY, "6.6.6.6", "198.51.100.7") == "198.51.100.7"
    assert address(PROXY, "6.6.6.6", f"198.51.100.7, {INNER_PROXY}") == "198.51.100.7"


def test_when_every_hop_is_trusted_the_left_most_is_the_client():
    assert address(PROXY, INNER_PROXY) == INNER_PROXY


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("unknown", PROXY),  # the right-most hop is no address: the peer it is
        ("198.51.100.7:4711", PROXY),  # an address with a port is not an address
        (f"198.51.100.7, garbage, {INNER_PROXY}", INNER_PROXY),  # the walk stops at garbage
        ("", PROXY),
    ],
)
def test_a_hop_that_is_not_an_address_ends_the_walk(forwarded, expected):
    assert address(PROXY, forwarded) == expected


def test_ipv6_hops_are_addresses_too():
    assert address(PROXY, "2001:db8::7") == "2001:db8::7"
