from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter
from reelcloud.gateway.outcome import Outcome
from reelcloud.gateway.ratelimit import TokenBuckets, retry_after


class RateLimitFilter(InboundFilter):
    """Token buckets per client address and per member; over the rate: 429 with Retry-After."""

    order = 70
    name = "rate_limit"

    def __init__(self, per_client: TokenBuckets, per_member: TokenBuckets) -> None:
        self._per_client = per_client
        self._per_member = per_member

    def apply(self, ctx: RequestContext) -> None:
        wait = self._per_client.take(ctx.client_address)
        member = ctx.claims.get("sub")
        if not wait and member:
            wait = self._per_member.take(str(member))
        if wait:
            ctx.fail(
                429,
                "rate_limited",
                "too many requests; slow down",
                Outcome.FAILURE_LOCAL_THROTTLED_RATE,
            )
            assert ctx.response is not None
            ctx.response.set_header(b"retry-after", retry_after(wait).encode())
