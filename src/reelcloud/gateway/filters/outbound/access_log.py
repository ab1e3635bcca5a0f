from __future__ import annotations

import logging

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter

log = logging.getLogger("reelcloud.gateway.access")


class AccessLogFilter(OutboundFilter):
    """One line per request: who asked what, what answered, how it ended, how long it took."""

    order = 100
    name = "access_log"

    async def apply(self, ctx: RequestContext) -> None:
        status = ctx.response.status if ctx.response is not None else 500
        log.info(
            "%s %s %d %s",
            ctx.request.method,
            ctx.request.path[:200],
            status,
            ctx.outcome.value,
            extra={
                "request_id": ctx.request_id,
                "client": ctx.client_address,
                "route": ctx.route,
                "origin": ctx.origin,
                "status": status,
                "outcome": ctx.outcome.value,
                "duration_ms": round(ctx.passport.elapsed_s() * 1000, 3),
                "attempts": [f"{a.instance}:{a.status or a.error}" for a in ctx.attempts],
                "error": ctx.error,
            },
        )
