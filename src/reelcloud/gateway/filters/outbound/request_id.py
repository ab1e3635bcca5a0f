from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter


class ResponseIdFilter(OutboundFilter):
    """Every response names its request id and outcome, so a user's report can be traced."""

    order = 30
    name = "response_id"

    def should_filter(self, ctx: RequestContext) -> bool:
        return ctx.response is not None

    def apply(self, ctx: RequestContext) -> None:
        assert ctx.response is not None
        # The proxy drops an origin's own x-request-id, so appending cannot duplicate it.
        ctx.response.headers.append((b"x-request-id", ctx.request_id.encode()))
        ctx.response.headers.append((b"x-reelcloud-outcome", ctx.outcome.encode()))
        if ctx.attempts:
            ctx.response.headers.append((b"x-reelcloud-proxy-attempts", b"%d" % len(ctx.attempts)))
