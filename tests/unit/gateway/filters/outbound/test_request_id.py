"""Every response names its request id and its outcome."""

from tests.unit.gateway.filters.contexts import context, header

from reelcloud.gateway.context import Attempt, RequestContext
from reelcloud.gateway.filters.outbound.request_id import ResponseIdFilter
from reelcloud.gateway.http.messages import Response
from reelcloud.gateway.outcome import Outcome


def answered(ctx: RequestContext) -> RequestContext:
    ids = ResponseIdFilter()
    assert ids.should_filter(ctx)
    ids.apply(ctx)
    return ctx


def test_the_response_names_the_request_id_and_the_outcome():
    ctx = context()
    ctx.request_id = "abc123"
    ctx.outcome = Outcome.SUCCESS_LOCAL
    ctx.response = Response(200)
    answered(ctx)
    assert header(ctx.response, b"x-request-id") == b"abc123"
    assert header(ctx.response, b"x-reelcloud-outcome") == b"SUCCESS_LOCAL"
    assert header(ctx.response, b"x-reelcloud-proxy-attempts") is None  # nothing was proxied


def test_an_error_names_the_same_id_in_its_body_and_its_header():
    ctx = context()
    ctx.request_id = "req-9"
    ctx.fail(404, "no_route", "nothing here", Outcome.FAILURE_LOCAL_NO_ROUTE)
    answered(ctx)
    assert ctx.response is not None
    assert b'"request_id":"req-9"' in ctx.response.body
    assert header(ctx.response, b"x-request-id") == b"req-9"
    assert header(ctx.response, b"x-reelcloud-outcome") == b"FAILURE_LOCAL_NO_ROUTE"


def test_proxied_responses_count_the_attempts():
    ctx = context()
    ctx.response = Response(200)
    ctx.attempts += [
        Attempt("host:catalog:1", None, "connect_refused", 1.0),
        Attempt("host:catalog:2", 200, "", 3.0),
    ]
    answered(ctx)
    assert header(ctx.response, b"x-reelcloud-proxy-attempts") == b"2"


def test_nothing_to_do_without_a_response():
    assert not ResponseIdFilter().should_filter(context())
