"""The filter contract (Zuul's): an order, `should_filter(ctx)` and `apply(ctx)`.

Inbound filters run in order until one stops the chain (by setting a response); then exactly
one endpoint filter produces the response (the one routing named); outbound filters always
run, in order, on whatever response there is.

As in Zuul, a filter is sync or async: `apply` is a plain method when the filter never waits
(most of them) and `async def` when it does (the proxy, fault-injected delays). The chain
calls sync filters directly: a coroutine per filter per request is measurable at the edge.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import ClassVar

from reelcloud.gateway.context import RequestContext


class Filter:
    kind: ClassVar[str]
    order: ClassVar[int] = 100
    name: ClassVar[str] = ""

    def should_filter(self, ctx: RequestContext) -> bool:
        return True

    def apply(self, ctx: RequestContext) -> Awaitable[None] | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the filter holds (connections, files) when the gateway stops."""


class InboundFilter(Filter):
    kind = "inbound"


class EndpointFilter(Filter):
    kind = "endpoint"
    endpoint: ClassVar[str]  # the name routing puts in ctx.endpoint


class OutboundFilter(Filter):
    kind = "outbound"
