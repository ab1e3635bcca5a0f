from __future__ import annotations

import asyncio

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter
from reelcloud.gateway.outcome import Outcome

HEADER = b"x-reelcloud-fault"


class FaultInjectionFilter(InboundFilter):
    """`X-Reelcloud-Fault` asks for a failure, for chaos experiments, and only when the
    platform runs with fault injection on. `gateway.delay_ms=N` delays here,
    `gateway.abort=STATUS` answers here; the header travels downstream for the services."""

    order = 40
    name = "fault_injection"

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled

    def should_filter(self, ctx: RequestContext) -> bool:
        return self._enabled and ctx.request.header(HEADER) is not None

    async def apply(self, ctx: RequestContext) -> None:
        raw = (ctx.request.header(HEADER) or b"").decode("latin-1")[:512]
        ctx.fault = raw
        for part in raw.split(","):
            key, _, value = part.strip().partition("=")
            # isdecimal, not isdigit: "²" (latin-1 0xb2) is a digit that int() refuses.
            if key == "gateway.delay_ms" and value.isdecimal():
                await asyncio.sleep(min(int(value), 30_000) / 1000)
            elif key == "gateway.abort" and value.isdecimal() and 400 <= int(value) <= 599:
                ctx.fail(
                    int(value),
                    "injected",
                    f"failure injected: {part.strip()}",
                    Outcome.FAILURE_LOCAL_INJECTED,
                )
                return
