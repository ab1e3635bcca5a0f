"""Routing names the endpoint, the origin and the path to send it: the longest prefix wins."""

import os
from pathlib import Path

import pytest
import yaml
from tests.unit.gateway.filters.contexts import context, error

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.inbound.routing import RoutingFilter
from reelcloud.gateway.outcome import Outcome
from reelcloud.gateway.routing import RouteTable

ROUTES = [
    {"prefix": "/", "endpoint": "static", "auth": "none"},
    {"prefix": "/api", "origin": "api-catchall"},
    {"prefix": "/api/play", "origin": "play-api", "auth": "required"},
    {"prefix": "/api/play/licenses", "origin": "license", "auth": "none"},
    {"prefix": "/healthcheck", "endpoint": "health", "auth": "none"},
    {"prefix": "/secure", "origin": "echo", "strip_prefix": True},
    {"prefix": "/trailing/", "origin": "echo", "strip_prefix": True},
]


def table(tmp_path: Path, routes: list[dict[str, object]] = ROUTES) -> RouteTable:
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump({"routes": routes}))
    return RouteTable.load(path)


def routed(routing: RoutingFilter, target: str) -> RequestContext:
    ctx = context(target)
    routing.apply(ctx)
    return ctx


@pytest.fixture
def routing(tmp_path: Path) -> RoutingFilter:
    return RoutingFilter(table(tmp_path))


@pytest.mark.parametrize(
    ("target", "route", "origin"),
    [
        ("/api/play/licenses/t-1", "/api/play/licenses", "license"),
        ("/api/play/123/master.m3u8", "/api/play", "play-api"),
        ("/api/play", "/api/play", "play-api"),
        ("/api/playlists", "/api", "api-catchall"),  # a prefix matches whole segments only
        ("/api/catalog/titles", "/api", "api-catchall"),
        ("/apiary", "/", ""),
        ("/index.html", "/", ""),
    ],
)
def test_the_longest_matching_prefix_wins(routing, target, route, origin):
    ctx = routed(routing, target)
    assert ctx.response is None
    assert ctx.route == route
    assert ctx.origin == origin


def test_the_order_of_the_file_does_not_matter(tmp_path):
    routing = RoutingFilter(table(tmp_path, list(reversed(ROUTES))))
    assert routed(routing, "/api/play/licenses/t-1").origin == "license"
    assert routed(routing, "/api/x").origin == "api-catchall"


def test_the_route_names_the_endpoint_and_what_it_requires(routing):
    play = routed(routing, "/api/play")
    assert (play.endpoint, play.auth) == ("proxy", "required")
    health = routed(routing, "/healthcheck")
    assert (health.endpoint, health.origin, health.auth) == ("health", "", "none")
    catalog = routed(routing, "/api/catalog")
    assert catalog.auth == "optional"  # the default


def test_without_strip_prefix_the_origin_gets_the_target_as_received(routing):
    ctx = routed(routing, "/api/play/t%20one?lang=fr&x=1")
    assert ctx.origin_path == b"/api/play/t%20one?lang=fr&x=1"


@pytest.mark.parametrize(
    ("target", "sent"),
    [
        ("/secure/headers", b"/headers"),
        ("/secure/headers?x=1", b"/headers?x=1"),
        ("/secure", b"/"),
        ("/secure/", b"/"),
        ("/secure?x=1", b"/?x=1"),
        ("/trailing/a/b", b"/a/b"),  # a prefix written with its slash strips the same
    ],
)
def test_strip_prefix_sends_the_rest_of_the_path(routing, target, sent):
    ctx = routed(routing, target)
    assert ctx.route in ("/secure", "/trailing/")
    assert ctx.origin_path == sent


def test_nothing_routed_is_a_404_named_no_route(tmp_path):
    routing = RoutingFilter(table(tmp_path, [{"prefix": "/api", "origin": "catalog"}]))
    ctx = routed(routing, "/elsewhere")
    assert ctx.response is not None
    assert ctx.response.status == 404
    assert ctx.outcome is Outcome.FAILURE_LOCAL_NO_ROUTE
    assert error(ctx)["code"] == "no_route"
    assert ctx.endpoint == ""


def test_a_reloaded_table_is_used_by_the_next_request(tmp_path):
    routes = table(tmp_path, [{"prefix": "/api", "origin": "catalog"}])
    routing = RoutingFilter(routes)
    assert routed(routing, "/api/x").origin == "catalog"
    routes.path.write_text(yaml.safe_dump({"routes": [{"prefix": "/api", "origin": "catalog-v2"}]}))
    # A distinct mtime, whatever the file system's timestamp granularity.
    os.utime(routes.path, ns=(routes.mtime_ns + 10**9, routes.mtime_ns + 10**9))
    assert routes.reload_if_changed()
    assert routed(routing, "/api/x").origin == "catalog-v2"
