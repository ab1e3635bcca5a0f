from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.outbound.metrics import MetricsFilter
from reelcloud.gateway.http.messages import Request, Response
from reelcloud.gateway.outcome import Outcome


def context(route: str, status: int, outcome: Outcome, elapsed_s: float) -> RequestContext:
    request = Request("GET", b"/x", "/x", b"", [], b"", "1.1", "127.0.0.1", True)
    ctx = RequestContext(request)
    ctx.route = route
    ctx.response = Response(status)
    ctx.outcome = outcome
    ctx.passport.started -= elapsed_s
    return ctx


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_requests_are_counted_by_route_status_and_outcome():
    registry = CollectorRegistry()
    metrics = MetricsFilter(registry)
    for _ in range(3):
        metrics.apply(context("/api/titles", 200, Outcome.SUCCESS, 0.002))
    metrics.apply(context("/api/titles", 504, Outcome.FAILURE_ORIGIN_READ_TIMEOUT, 0.6))
    metrics.apply(context("", 404, Outcome.FAILURE_LOCAL_NO_ROUTE, 0.0001))

    found = samples(registry)
    total = "reelcloud_gateway_requests_total"
    ok = (("outcome", "SUCCESS"), ("route", "/api/titles"), ("status", "200"))
    timeout = (
        ("outcome", "FAILURE_ORIGIN_READ_TIMEOUT"),
        ("route", "/api/titles"),
        ("status", "504"),
    )
    unrouted = (("outcome", "FAILURE_LOCAL_NO_ROUTE"), ("route", "unrouted"), ("status", "404"))
    assert found[(total, ok)] == 3
    assert found[(total, timeout)] == 1
    assert found[(total, unrouted)] == 1
    assert ("reelcloud_gateway_requests_created", ok) in found


def test_latency_histogram_buckets_are_cumulative_per_route():
    registry = CollectorRegistry()
    metrics = MetricsFilter(registry)
    for elapsed_s in (0.0002, 0.002, 0.002, 0.6, 30.0):
        metrics.apply(context("/api/titles", 200, Outcome.SUCCESS, elapsed_s))
    metrics.apply(context("/api/play", 200, Outcome.SUCCESS, 0.0009))

    found = samples(registry)
    name = "reelcloud_gateway_request_duration_seconds"

    def bucket(le: str, route: str = "/api/titles") -> float:
        return found[(f"{name}_bucket", (("le", le), ("route", route)))]

    assert bucket("0.0005") == 1
    assert bucket("0.001") == 1
    assert bucket("0.0025") == 3
    assert bucket("0.5") == 3
    assert bucket("1.0") == 4
    assert bucket("5.0") == 4
    assert bucket("+Inf") == 5
    assert found[(f"{name}_count", (("route", "/api/titles"),))] == 5
    assert abs(found[(f"{name}_sum", (("route", "/api/titles"),))] - 30.6042) < 0.01
    assert bucket("0.001", "/api/play") == 1
    assert bucket("0.0005", "/api/play") == 0
