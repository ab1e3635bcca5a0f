from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter
from reelcloud.platform.metrics import LATENCY_BUCKETS_S


class MetricsFilter(OutboundFilter):
    """Requests by route, status and outcome; latency by route (Prometheus, on /metrics)."""

    order = 90
    name = "metrics"

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "reelcloud_gateway_requests",
            "Requests through the gateway by route, status and outcome.",
            ["route", "status", "outcome"],
            registry=registry,
        )
        self._latency = Histogram(
            "reelcloud_gateway_request_duration_seconds",
            "Time from request parsed to response ready, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

        self._children: dict[tuple[str, int, str], tuple[Any, Any]] = {}

    def apply(self, ctx: RequestContext) -> None:
        status = ctx.response.status if ctx.response is not None else 500
        key = (ctx.route or "unrouted", status, ctx.outcome)
        children = self._children.get(key)
        if children is None:  # labels() looks up under a lock: do it once per combination
            children = self._children[key] = (
                self._requests.labels(key[0], str(status), key[2]),
                self._latency.labels(key[0]),
            )
        children[0].inc()
        children[1].observe(ctx.passport.elapsed_s())
