"""The session token check at the edge: signature and expiry, against the route's requirement."""

import base64
import hashlib
import hmac
import time

import orjson
import pytest
from tests.unit.gateway.filters.contexts import context, error

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.inbound.authentication import AuthenticationFilter
from reelcloud.gateway.outcome import Outcome
from reelcloud.platform import session_tokens as tokens

SECRET = "gateway-test-secret"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(claims: dict[str, object], secret: str = SECRET) -> str:
    """A token with exactly these claims, signed as the accounts service signs."""
    payload = b64(orjson.dumps(claims))
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{b64(signature)}"


def checked(auth: str, *headers: tuple[str, str]) -> RequestContext:
    ctx = context("/api/play", headers=headers)
    ctx.auth = auth  # routing has run: the route's requirement is known
    AuthenticationFilter(SECRET).apply(ctx)
    return ctx


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


def assert_refused(ctx: RequestContext, code: str, message: str = "") -> None:
    assert ctx.response is not None
    assert ctx.response.status == 401
    assert ctx.outcome is Outcome.FAILURE_CLIENT_UNAUTHORIZED
    body = error(ctx)
    assert body["code"] == code
    assert message in body["message"]
    assert ctx.claims == {}  # nothing of a refused token is believed


def test_accepts_a_bearer_token_and_keeps_member_and_session():
    token = tokens.issue(SECRET, "m-1", session_id="s-1")
    ctx = checked("required", bearer(token))
    assert ctx.response is None
    assert ctx.claims["sub"] == "m-1"
    assert ctx.claims["sid"] == "s-1"  # the proxy forwards it as X-Reelcloud-Session


def test_the_bearer_scheme_is_case_insensitive():
    ctx = checked(
        "required", ("Authorization", "bearer " + tokens.issue(SECRET, "m-1", session_id="s-1"))
    )
    assert ctx.response is None
    assert ctx.claims["sub"] == "m-1"


def test_reads_the_session_cookie_among_other_cookies():
    token = tokens.issue(SECRET, "m-2", session_id="s-2")
    ctx = checked("required", ("Cookie", f"theme=dark; session={token}; lang=fr"))
    assert ctx.response is None
    assert ctx.claims["sub"] == "m-2"


def test_a_cookie_whose_name_only_ends_in_session_is_not_the_token():
    ctx = checked(
        "required", ("Cookie", f"oldsession={tokens.issue(SECRET, 'm-1', session_id='s-1')}")
    )
    assert_refused(ctx, "unauthenticated")


def test_the_authorization_header_wins_over_the_cookie():
    good = tokens.issue(SECRET, "m-header", session_id="s-1")
    ctx = checked("required", bearer(good), ("Cookie", "session=stale-garbage"))
    assert ctx.response is None
    assert ctx.claims["sub"] == "m-header"


def test_rejects_a_token_signed_with_another_key():
    ctx = checked("required", bearer(tokens.issue("another-secret", "m-1", session_id="s-1")))
    assert_refused(ctx, "invalid_token", "signature does not match")


def test_rejects_a_token_without_a_session_since_logout_could_not_revoke_it():
    payload = tokens._b64(orjson.dumps({"sub": "m-chen", "exp": int(time.time()) + 600}))
    mac = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()
    ctx = checked("required", bearer(f"{payload}.{tokens._b64(mac)}"))
    assert_refused(ctx, "invalid_token", "no session")


def test_a_token_is_never_issued_without_a_session():
    with pytest.raises(ValueError, match="names its session"):
        tokens.issue(SECRET, "m-1", session_id="")


def test_rejects_an_expired_token():
    an_hour_ago = time.time() - 3600
    token = tokens.issue(SECRET, "m-1", session_id="s-1", ttl_s=60, now=an_hour_ago)
    ctx = checked("required", bearer(token))
    assert_refused(ctx, "invalid_token", "expired")


def test_rejects_a_token_whose_claims_were_changed_after_signing():
    token = tokens.issue(SECRET, "m-1", session_id="s-1")
    _, signature = token.split(".")
    forged_claims = {"sub": "someone-else", "sid": "s-1", "exp": int(time.time()) + 3600}
    ctx = checked("required", bearer(f"{b64(orjson.dumps(forged_claims))}.{signature}"))
    assert_refused(ctx, "invalid_token", "signature does not match")


def test_rejects_a_token_whose_signature_was_changed():
    payload, signature = tokens.issue(SECRET, "m-1", session_id="s-1").split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    ctx = checked("required", bearer(f"{payload}.{flipped}"))
    assert_refused(ctx, "invalid_token", "signature does not match")


def test_rejects_a_validly_signed_token_that_names_no_member():
    ctx = checked("required", bearer(signed({"sid": "s-1", "exp": int(time.time()) + 3600})))
    assert_refused(ctx, "invalid_token", "no member")


def test_rejects_a_validly_signed_token_without_an_expiry():
    ctx = checked("required", bearer(signed({"sub": "m-1", "sid": "s-1"})))
    assert_refused(ctx, "invalid_token", "expired")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "!!!.???",
        "é.ü",  # not base64 at all (the header is read as latin-1)
        b64(b"not json") + "." + b64(b"sig"),
        "x" * 5000 + ".y",
    ],
)
def test_a_malformed_token_is_a_clear_401_not_an_error(token):
    ctx = checked("optional", bearer(token))
    assert_refused(ctx, "invalid_token", "")


def test_a_required_route_refuses_a_request_without_a_token():
    ctx = checked("required")
    assert_refused(ctx, "unauthenticated", "sign in first")


def test_an_optional_route_lets_an_anonymous_request_through():
    ctx = checked("optional")
    assert ctx.response is None
    assert ctx.claims == {}


def test_an_optional_route_still_refuses_a_bad_token():
    ctx = checked("optional", bearer(tokens.issue("another-secret", "m-1", session_id="s-1")))
    assert_refused(ctx, "invalid_token", "signature does not match")


def test_a_route_without_auth_ignores_even_a_forged_token():
    ctx = checked("none", bearer(tokens.issue("another-secret", "m-1", session_id="s-1")))
    assert ctx.response is None
    assert ctx.claims == {}  # ignored, not believed: no member reaches the origin
