from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import EndpointFilter
from reelcloud.gateway.http.messages import Response
from reelcloud.gateway.outcome import Outcome


class HealthEndpoint(EndpointFilter):
    """What a load balancer in front asks: is this gateway taking traffic?"""

    name = "health"
    endpoint = "health"

    async def apply(self, ctx: RequestContext) -> None:
        ctx.outcome = Outcome.SUCCESS_LOCAL
        ctx.response = Response(
            200, [(b"content-type", b"application/json")], b'{"status":"healthy"}'
        )
