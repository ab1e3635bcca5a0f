"""Token buckets per client address and per member, on a fake clock."""

from typing import Any

import pytest
from tests.unit.gateway.filters.contexts import context, error, header

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.inbound.rate_limit import RateLimitFilter
from reelcloud.gateway.outcome import Outcome
from reelcloud.gateway.ratelimit import TokenBuckets
from reelcloud.platform.testing import FakeClock

CLIENT = "198.51.100.7"
PLENTY = 1_000_000


def limiter(
    clock: FakeClock,
    *,
    client_rate: float = 1.0,
    client_burst: int = 2,
    member_rate: float = 1.0,
    member_burst: int = PLENTY,
) -> RateLimitFilter:
    return RateLimitFilter(
        TokenBuckets(client_rate, client_burst, clock),
        TokenBuckets(member_rate, member_burst, clock),
    )


def sent(limits: RateLimitFilter, client: str = CLIENT, **claims: Any) -> RequestContext:
    ctx = context("/api/catalog/titles")
    ctx.client_address = client  # as the client address filter found it
    ctx.claims = dict(claims)  # as authentication found them
    limits.apply(ctx)
    return ctx


def allowed(limits: RateLimitFilter, client: str = CLIENT, **claims: Any) -> bool:
    return sent(limits, client, **claims).response is None


def test_a_client_may_send_its_burst_then_is_told_to_wait(clock):
    limits = limiter(clock, client_burst=3)
    assert [allowed(limits) for _ in range(3)] == [True, True, True]
    refused = sent(limits)
    assert refused.response is not None
    assert refused.response.status == 429
    assert refused.outcome is Outcome.FAILURE_LOCAL_THROTTLED_RATE
    assert error(refused)["code"] == "rate_limited"
    assert header(refused.response, b"retry-after") == b"1"


def test_the_bucket_refills_at_the_rate_as_the_clock_moves(clock):
    limits = limiter(clock, client_rate=2.0, client_burst=2)  # a token every 0.5 s
    assert allowed(limits)
    assert allowed(limits)
    assert not allowed(limits)
    clock.advance(0.25)
    assert not allowed(limits)  # half a token
    clock.advance(0.25)
    assert allowed(limits)
    assert not allowed(limits)
    clock.advance(1.0)
    assert allowed(limits)
    assert allowed(limits)
    assert not allowed(limits)


def test_an_idle_client_gets_back_its_burst_and_no_more(clock):
    limits = limiter(clock, client_burst=2)
    assert allowed(limits)
    assert allowed(limits)
    clock.advance(3600)
    assert [allowed(limits) for _ in range(3)] == [True, True, False]


def test_retry_after_is_the_wait_for_the_next_token_rounded_up(clock):
    limits = limiter(clock, client_rate=0.25, client_burst=1)  # a token every 4 s
    assert allowed(limits)
    assert header(sent(limits).response, b"retry-after") == b"4"
    clock.advance(1.5)
    assert header(sent(limits).response, b"retry-after") == b"3"  # 2.5 s → 3
    clock.advance(2.4)
    assert header(sent(limits).response, b"retry-after") == b"1"  # 0.1 s → at least 1


def test_each_client_address_has_its_own_bucket(clock):
    limits = limiter(clock, client_burst=1)
    assert allowed(limits, "198.51.100.7")
    assert not allowed(limits, "198.51.100.7")
    assert allowed(limits, "198.51.100.8")


def test_a_member_is_limited_across_addresses(clock):
    limits = limiter(clock, client_burst=PLENTY, member_burst=2)
    assert allowed(limits, "198.51.100.1", sub="m-1")
    assert allowed(limits, "198.51.100.2", sub="m-1")
    refused = sent(limits, "198.51.100.3", sub="m-1")
    assert refused.response is not None
    assert refused.response.status == 429
    assert allowed(limits, "198.51.100.3", sub="m-2")  # another member from the same address
    clock.advance(1.0)
    assert allowed(limits, "198.51.100.4", sub="m-1")


def test_anonymous_requests_use_only_the_client_buckets(clock):
    limits = limiter(clock, client_burst=PLENTY, member_burst=1)
    assert all(allowed(limits, f"198.51.100.{i}") for i in range(1, 20))


def test_a_request_refused_per_client_takes_no_member_token(clock):
    limits = limiter(clock, client_rate=0.001, client_burst=1, member_rate=0.001, member_burst=2)
    assert allowed(limits, CLIENT, sub="m-1")  # the member has one token left
    assert not allowed(limits, CLIENT, sub="m-1")  # refused per client ...
    assert allowed(limits, "198.51.100.8", sub="m-1")  # ... so the member's last token is here


@pytest.mark.parametrize("burst", [1, 5])
def test_the_burst_is_exactly_the_number_of_back_to_back_requests(clock, burst):
    limits = limiter(clock, client_burst=burst)
    results = [allowed(limits) for _ in range(burst + 1)]
    assert results == [True] * burst + [False]
