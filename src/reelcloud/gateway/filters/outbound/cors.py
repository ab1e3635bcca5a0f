from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter

ALLOW_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = b"authorization, content-type, x-request-id"


class CorsFilter(OutboundFilter):
    """Lets the configured browser origins call the APIs (and read the request id)."""

    order = 10
    name = "cors"

    def __init__(self, origins: list[str]) -> None:
        self._origins = frozenset(o.encode() for o in origins)

    def should_filter(self, ctx: RequestContext) -> bool:
        return ctx.response is not None and ctx.request.header(b"origin") in self._origins

    def apply(self, ctx: RequestContext) -> None:
        assert ctx.response is not None
        origin = ctx.request.header(b"origin") or b""
        ctx.response.headers += [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-expose-headers", b"x-request-id, retry-after"),
            (b"vary", b"Origin"),
        ]
        if ctx.request.method == "OPTIONS":
            ctx.response.headers += [
                (b"access-control-allow-methods", ALLOW_METHODS),
                (b"access-control-allow-headers", ALLOW_HEADERS),
                (b"access-control-max-age", b"600"),
            ]
