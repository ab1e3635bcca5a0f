from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter
from reelcloud.gateway.outcome import Outcome


class InFlight:
    """Requests being handled by this gateway process now."""

    def __init__(self) -> None:
        self.count = 0


class LoadSheddingFilter(InboundFilter):
    """Over the in-flight limit, answer 503 at once, before any work is done for the request."""

    order = 30
    name = "load_shedding"

    def __init__(self, in_flight: InFlight, limit: int) -> None:
        self._in_flight = in_flight
        self._limit = limit

    def should_filter(self, ctx: RequestContext) -> bool:
        return self._in_flight.count > self._limit

    def apply(self, ctx: RequestContext) -> None:
        ctx.fail(
            503,
            "overloaded",
            "the gateway is shedding load; retry shortly",
            Outcome.FAILURE_LOCAL_LOAD_SHED,
        )
        assert ctx.response is not None
        ctx.response.set_header(b"retry-after", b"1")
