from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter
from reelcloud.platform.metrics import LATENCY_BUCKETS_S

REQUESTS = "reelcloud_gateway_requests"
DURATION = "reelcloud_gateway_request_duration_seconds"


class _Latency:
    """One route's histogram: a count per bucket (not cumulated until scraped) and the sum."""

    __slots__ = ("buckets", "sum_s")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size
        self.sum_s = 0.0


class MetricsFilter(OutboundFilter):
    """Requests by route, status and outcome; latency by route (Prometheus, on /metrics).

    Counted in plain ints and floats and turned into Prometheus families only when /metrics is
    scraped: prometheus_client's Counter.inc and Histogram.observe take a lock and walk the
    buckets in Python on every request. The gateway counts on its event loop's thread and the
    scrape runs on that thread too, so nothing here needs a lock.
    """

    order = 90
    name = "metrics"

    def __init__(self, registry: CollectorRegistry) -> None:
        bounds = list(LATENCY_BUCKETS_S)
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = bounds
        self._le = ["+Inf" if bound == math.inf else repr(float(bound)) for bound in bounds]
        self._counts: dict[tuple[str, int, str], int] = {}
        self._created: dict[tuple[str, int, str], float] = {}
        self._latency: dict[str, _Latency] = {}
        registry.register(_Exporter(self))

    def apply(self, ctx: RequestContext) -> None:
        status = ctx.response.status if ctx.response is not None else 500
        route = ctx.route or "unrouted"
        key = (route, status, ctx.outcome)
        counts = self._counts
        count = counts.get(key)
        if count is None:
            self._created[key] = time.time()
            count = 0
        counts[key] = count + 1
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = _Latency(len(self._bounds))
        elapsed_s = ctx.passport.elapsed_s()
        # bisect_left: the first bound >= elapsed, the bucket `le` that bound.
        latency.buckets[bisect_left(self._bounds, elapsed_s)] += 1
        latency.sum_s += elapsed_s

    def families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            REQUESTS,
            "Requests through the gateway by route, status and outcome.",
            labels=["route", "status", "outcome"],
        )
        for (route, status, outcome), count in sorted(self._counts.items()):
            requests.add_metric(
                [route, str(status), str(outcome)],
                count,
                created=self._created[(route, status, outcome)],
            )
        yield requests
        duration = HistogramMetricFamily(
            DURATION, "Time from request parsed to response ready, by route.", labels=["route"]
        )
        for route, latency in sorted(self._latency.items()):
            cumulative, buckets = 0, []
            for le, count in zip(self._le, latency.buckets, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            duration.add_metric([route], buckets, latency.sum_s)
        yield duration


class _Exporter(Collector):
    def __init__(self, metrics: MetricsFilter) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.families()
