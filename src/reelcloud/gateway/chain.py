"""The filter chain, built once at start (options are checked then, not per request)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence

from reelcloud.gateway.context import RequestContext, error_response
from reelcloud.gateway.filters.base import EndpointFilter, Filter, InboundFilter, OutboundFilter
from reelcloud.gateway.filters.inbound.load_shedding import InFlight
from reelcloud.gateway.http.messages import Request, Response
from reelcloud.gateway.outcome import Outcome

log = logging.getLogger(__name__)


def _ordered(filters: Sequence[Filter]) -> list[Filter]:
    return sorted(filters, key=lambda f: (f.order, f.name))  # Zuul: by order, then by name


def _step(f: Filter) -> tuple[Filter, bool, bool]:
    asks = type(f).should_filter is not Filter.should_filter
    return f, inspect.iscoroutinefunction(f.apply), asks


class FilterChain:
    def __init__(
        self,
        inbound: Sequence[InboundFilter],
        endpoints: Sequence[EndpointFilter],
        outbound: Sequence[OutboundFilter],
        in_flight: InFlight,
    ) -> None:
        self.inbound = _ordered(inbound)
        self.endpoints = {e.endpoint: e for e in endpoints}
        self.outbound = _ordered(outbound)
        self.in_flight = in_flight
        # (filter, apply is a coroutine, should_filter is its own): a filter that keeps the
        # base class's should_filter (always true) is not asked, a call saved per request.
        self._inbound_steps = [_step(f) for f in self.inbound]
        self._outbound_steps = [_step(f) for f in self.outbound]

    async def handle(self, request: Request) -> Response:
        ctx = RequestContext(request)
        self.in_flight.count += 1
        try:
            # Inbound filters and the endpoint, inline: one coroutine per request, not two.
            try:
                for inbound, is_async, asks in self._inbound_steps:
                    if ctx.response is not None:
                        break  # a filter stopped the chain: the endpoint is skipped too
                    if asks and not inbound.should_filter(ctx):
                        continue
                    if is_async:
                        await inbound.apply(ctx)  # type: ignore[misc]
                    else:
                        inbound.apply(ctx)
                if ctx.response is None:
                    endpoint = self.endpoints.get(ctx.endpoint)
                    if endpoint is None:
                        message = f"no endpoint {ctx.endpoint!r}"
                        ctx.fail(500, "no_endpoint", message, Outcome.FAILURE_LOCAL)
                    else:
                        await endpoint.apply(ctx)  # type: ignore[misc]
                        if ctx.response is None:
                            message = "the endpoint produced no response"
                            ctx.fail(500, "no_response", message, Outcome.FAILURE_LOCAL)
            except Exception:
                log.exception(
                    "gateway filter failed for %s %s", ctx.request.method, ctx.request.path[:200]
                )
                ctx.fail(500, "internal", "internal error", Outcome.FAILURE_LOCAL)
            for outbound, is_async, asks in self._outbound_steps:
                try:
                    if asks and not outbound.should_filter(ctx):
                        continue
                    if is_async:
                        await outbound.apply(ctx)  # type: ignore[misc]
                    else:
                        outbound.apply(ctx)
                except Exception:
                    log.exception("outbound filter %s failed", outbound.name)
        finally:
            self.in_flight.count -= 1
        assert ctx.response is not None
        return ctx.response

    def close(self) -> None:
        for f in [*self.inbound, *self.endpoints.values(), *self.outbound]:
            f.close()


def rejected(status: int, code: str, message: str) -> Response:
    """The answer to a request refused while parsing (bad syntax, too large)."""
    return error_response(status, code, message)
