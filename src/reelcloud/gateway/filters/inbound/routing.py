from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter
from reelcloud.gateway.outcome import Outcome
from reelcloud.gateway.routing import RouteTable


class RoutingFilter(InboundFilter):
    """Routing is an inbound filter (as in Zuul): it names the endpoint and, for the proxy, the
    origin service and the path to send it."""

    order = 50
    name = "routing"

    def __init__(self, table: RouteTable) -> None:
        self.table = table

    def apply(self, ctx: RequestContext) -> None:
        route = self.table.match(ctx.request.path)
        if route is None:
            ctx.fail(
                404,
                "no_route",
                f"nothing is routed at {ctx.request.path[:200]}",
                Outcome.FAILURE_LOCAL_NO_ROUTE,
            )
            return
        ctx.route = route.prefix
        ctx.endpoint = route.endpoint
        ctx.origin = route.origin or ""
        target = ctx.request.target
        if route.strip_prefix and route.prefix != "/":
            target = target[len(route.prefix.rstrip("/")) :] or b"/"
            if not target.startswith(b"/"):
                target = b"/" + target
        ctx.origin_path = target
        ctx.auth = route.auth
