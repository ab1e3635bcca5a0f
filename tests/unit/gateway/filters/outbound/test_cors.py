"""CORS headers for the configured browser origins only."""

from tests.unit.gateway.filters.contexts import context, header

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.inbound.cors_preflight import CorsPreflightFilter
from reelcloud.gateway.filters.outbound.cors import CorsFilter
from reelcloud.gateway.http.messages import Response

ORIGINS = ["http://127.0.0.1:8080", "http://localhost:8080"]
CORS_NAMES = {
    b"access-control-allow-origin",
    b"access-control-allow-credentials",
    b"access-control-expose-headers",
    b"access-control-allow-methods",
    b"access-control-allow-headers",
    b"access-control-max-age",
}


def answered(method: str = "GET", origin: str | None = None, **headers: str) -> RequestContext:
    sent = [("Origin", origin)] if origin is not None else []
    ctx = context("/api/catalog/titles", method=method, headers=[*sent, *headers.items()])
    ctx.response = Response(200, [(b"content-type", b"application/json")], b"{}")
    cors = CorsFilter(ORIGINS)
    if cors.should_filter(ctx):
        cors.apply(ctx)
    return ctx


def cors_headers(ctx: RequestContext) -> set[bytes]:
    assert ctx.response is not None
    return {name for name, _ in ctx.response.headers if name in CORS_NAMES}


def test_a_configured_origin_may_read_the_answer_with_credentials():
    ctx = answered(origin="http://localhost:8080")
    assert header(ctx.response, b"access-control-allow-origin") == b"http://localhost:8080"
    assert header(ctx.response, b"access-control-allow-credentials") == b"true"
    assert header(ctx.response, b"access-control-expose-headers") == b"x-request-id, retry-after"
    assert header(ctx.response, b"vary") == b"Origin"  # caches keep one answer per origin
    assert header(ctx.response, b"access-control-allow-methods") is None  # only on preflights


def test_another_origin_gets_no_cors_headers():
    assert cors_headers(answered(origin="http://evil.example")) == set()
    assert cors_headers(answered(origin="http://127.0.0.1:8080.evil.example")) == set()
    assert cors_headers(answered(origin="null")) == set()


def test_a_request_without_an_origin_gets_no_cors_headers():
    assert cors_headers(answered()) == set()


def test_a_preflight_is_answered_with_what_may_be_sent():
    ctx = answered(
        "OPTIONS", origin="http://127.0.0.1:8080", **{"Access-Control-Request-Method": "POST"}
    )
    methods = header(ctx.response, b"access-control-allow-methods")
    assert methods == b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    assert header(ctx.response, b"access-control-allow-headers") == (
        b"authorization, content-type, x-request-id"
    )
    assert header(ctx.response, b"access-control-max-age") == b"600"


def test_a_preflight_answered_at_the_edge_gets_the_allow_headers():
    ctx = context(
        "/api/play",
        method="OPTIONS",
        headers=[("Origin", "http://127.0.0.1:8080"), ("Access-Control-Request-Method", "POST")],
    )
    CorsPreflightFilter().apply(ctx)
    cors = CorsFilter(ORIGINS)
    assert cors.should_filter(ctx)
    cors.apply(ctx)
    assert ctx.response is not None
    assert ctx.response.status == 204
    assert cors_headers(ctx) == CORS_NAMES
