"""The security headers every response carries, without overriding an origin's own choice."""

from tests.unit.gateway.filters.contexts import context

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.outbound.security_headers import SecurityHeadersFilter
from reelcloud.gateway.http.messages import Response

EXPECTED = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def secured(response: Response) -> RequestContext:
    ctx = context()
    ctx.response = response
    headers = SecurityHeadersFilter()
    assert headers.should_filter(ctx)
    headers.apply(ctx)
    return ctx


def test_adds_exactly_the_security_headers():
    ctx = secured(Response(200, [(b"content-type", b"text/html")], b"<h1>hi</h1>"))
    assert ctx.response is not None
    assert ctx.response.headers == [(b"content-type", b"text/html"), *EXPECTED]


def test_an_error_answered_here_carries_them_too():
    ctx = context()
    ctx.fail(500, "internal", "internal error", ctx.outcome)
    SecurityHeadersFilter().apply(ctx)
    assert ctx.response is not None
    assert ctx.response.headers == [(b"content-type", b"application/json"), *EXPECTED]


def test_an_origins_own_choice_is_kept_and_the_others_added():
    ctx = secured(Response(200, [(b"x-frame-options", b"SAMEORIGIN")]))
    assert ctx.response is not None
    assert ctx.response.headers == [
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


def test_an_origin_that_set_them_all_is_left_alone():
    own = [(b"referrer-policy", b"same-origin"), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"SAMEORIGIN")]  # fmt: skip
    ctx = secured(Response(200, list(own)))
    assert ctx.response is not None
    assert ctx.response.headers == own


def test_responses_do_not_share_a_header_list():
    first = secured(Response(200))
    second = secured(Response(200))
    assert first.response is not None
    assert second.response is not None
    first.response.headers.append((b"x-one", b"1"))
    assert (b"x-one", b"1") not in second.response.headers


def test_nothing_to_do_without_a_response():
    assert not SecurityHeadersFilter().should_filter(context())
