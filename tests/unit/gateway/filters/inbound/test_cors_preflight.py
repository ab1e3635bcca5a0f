"""CORS preflights are answered at the edge, before routing or authentication."""

import pytest
from tests.unit.gateway.filters.contexts import context

from reelcloud.gateway.filters.inbound.authentication import AuthenticationFilter
from reelcloud.gateway.filters.inbound.cors_preflight import CorsPreflightFilter
from reelcloud.gateway.filters.inbound.routing import RoutingFilter
from reelcloud.gateway.outcome import Outcome

PREFLIGHT = [("Origin", "http://127.0.0.1:8080"), ("Access-Control-Request-Method", "POST")]


def test_answers_a_preflight_with_an_empty_204():
    ctx = context("/api/play", method="OPTIONS", headers=PREFLIGHT)
    preflight = CorsPreflightFilter()
    assert preflight.should_filter(ctx)
    preflight.apply(ctx)
    assert ctx.response is not None
    assert ctx.response.status == 204
    assert ctx.response.body == b""
    assert ctx.outcome is Outcome.SUCCESS_LOCAL


def test_runs_before_routing_and_authentication():
    # A preflight carries no credentials: it must be answered before a route can require them.
    assert CorsPreflightFilter.order < RoutingFilter.order < AuthenticationFilter.order


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("OPTIONS", [("Origin", "http://127.0.0.1:8080")]),  # a plain OPTIONS goes to the origin
        ("OPTIONS", [("Access-Control-Request-Method", "")]),
        ("POST", PREFLIGHT),
        ("GET", PREFLIGHT),
    ],
)
def test_other_requests_are_not_preflights(method, headers):
    assert not CorsPreflightFilter().should_filter(context("/", method=method, headers=headers))
