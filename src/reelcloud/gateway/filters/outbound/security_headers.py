from __future__ import annotations

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_NAMES = frozenset(name for name, _ in HEADERS)


class SecurityHeadersFilter(OutboundFilter):
    order = 20
    name = "security_headers"

    def should_filter(self, ctx: RequestContext) -> bool:
        return ctx.response is not None

    def apply(self, ctx: RequestContext) -> None:
        assert ctx.response is not None
        headers = ctx.response.headers
        # Header names are lower-case everywhere in the gateway (parsed or set here).
        for name, _ in headers:
            if name in _NAMES:  # an origin set one of them: keep its choice, add the others
                present = {k for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in present]
                return
        headers += HEADERS
