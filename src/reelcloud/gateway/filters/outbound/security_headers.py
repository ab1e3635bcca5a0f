from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeadersFilter(OutboundFilter):
    order = 20
    name = "security_headers"

    def should_filter(self, ctx: RequestContext) -> bool:
        return ctx.response is not None

    def apply(self, ctx: RequestContext) -> None:
        assert ctx.response is not None
        present = {k.lower() for k, _ in ctx.response.headers}
        ctx.response.headers += [(k, v) for k, v in HEADERS if k not in present]
