"""Methods the platform does not serve end at the edge with 405 and the Allow list."""

import pytest
from tests.unit.gateway.filters.contexts import context, error, header

from reelcloud.gateway.filters.inbound.method_guard import MethodGuardFilter
from reelcloud.gateway.outcome import Outcome


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "MKCOL", "get"])
def test_refuses_a_method_the_platform_does_not_serve(method):
    ctx = context("/api/catalog/titles", method=method)
    guard = MethodGuardFilter()
    assert guard.should_filter(ctx)
    guard.apply(ctx)
    assert ctx.response is not None
    assert ctx.response.status == 405
    assert ctx.outcome is Outcome.FAILURE_CLIENT_METHOD_NOT_ALLOWED
    assert header(ctx.response, b"allow") == b"DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert error(ctx)["code"] == "method_not_allowed"


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_lets_the_platforms_methods_through(method):
    assert not MethodGuardFilter().should_filter(context("/", method=method))


def test_a_long_method_name_is_cut_in_the_message():
    ctx = context(method="X" * 500)
    MethodGuardFilter().apply(ctx)
    assert error(ctx)["message"] == f"method {'X' * 20} is not supported"


def test_runs_first_of_all_inbound_filters():
    assert MethodGuardFilter.order == 0
