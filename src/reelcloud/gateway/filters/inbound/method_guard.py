from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter
from reelcloud.gateway.outcome import Outcome

ALLOWED = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MethodGuardFilter(InboundFilter):
    """Methods the platform does not serve (TRACE, CONNECT, WebDAV …) end here with 405."""

    order = 0
    name = "method_guard"

    def should_filter(self, ctx: RequestContext) -> bool:
        return ctx.request.method not in ALLOWED

    def apply(self, ctx: RequestContext) -> None:
        ctx.fail(
            405,
            "method_not_allowed",
            f"method {ctx.request.method[:20]} is not supported",
            Outcome.FAILURE_CLIENT_METHOD_NOT_ALLOWED,
        )
        assert ctx.response is not None
        ctx.response.set_header(b"allow", b", ".join(m.encode() for m in sorted(ALLOWED)))
