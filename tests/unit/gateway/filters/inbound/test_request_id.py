"""Every request gets an id; only a trusted proxy's own id is kept."""

import re

import pytest
from tests.unit.gateway.filters.contexts import context

from reelcloud.gateway.filters.inbound.request_id import RequestIdFilter

PROXY = "10.0.0.1"
GENERATED = re.compile(r"^[0-9a-f]{32}$")


def request_id(peer: str, given: str | None = None, ids: RequestIdFilter | None = None) -> str:
    ctx = context(peer=peer, headers=[("X-Request-Id", given)] if given is not None else [])
    (ids or RequestIdFilter(frozenset({PROXY}))).apply(ctx)
    return ctx.request_id


def test_a_request_without_an_id_gets_a_new_one():
    assert GENERATED.match(request_id("203.0.113.9"))


def test_ids_are_unique_within_a_process_and_across_processes():
    ids = RequestIdFilter(frozenset())
    mine = {request_id("203.0.113.9", ids=ids) for _ in range(1000)}
    assert len(mine) == 1000
    other_process = RequestIdFilter(frozenset())
    assert request_id("203.0.113.9", ids=other_process) not in mine


def test_a_trusted_proxys_id_is_kept():
    assert request_id(PROXY, "edge-42.a:b_c") == "edge-42.a:b_c"


def test_a_clients_own_id_is_replaced():
    chosen = request_id("203.0.113.9", "i-choose-my-id")
    assert chosen != "i-choose-my-id"
    assert GENERATED.match(chosen)


@pytest.mark.parametrize(
    "given",
    ["", "has space", 'quote"d', "x" * 129, "new\nline", "ünïcode", "a/b"],
)
def test_a_malformed_id_from_a_trusted_proxy_is_replaced(given):
    assert GENERATED.match(request_id(PROXY, given))


def test_an_id_of_128_characters_is_still_kept():
    assert request_id(PROXY, "a" * 128) == "a" * 128
