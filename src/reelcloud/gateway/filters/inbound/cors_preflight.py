from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter
from reelcloud.gateway.http.messages import Response
from reelcloud.gateway.outcome import Outcome


class CorsPreflightFilter(InboundFilter):
    """Answer CORS preflights (OPTIONS with Access-Control-Request-Method) here; the outbound
    CORS filter adds the allow headers."""

    order = 35
    name = "cors_preflight"

    def should_filter(self, ctx: RequestContext) -> bool:
        return ctx.request.method == "OPTIONS" and bool(
            ctx.request.header(b"access-control-request-method")
        )

    def apply(self, ctx: RequestContext) -> None:
        ctx.outcome = Outcome.SUCCESS_LOCAL
        ctx.response = Response(204)
