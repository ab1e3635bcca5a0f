"""Tokens as an attacker would send them: session tokens, signed OCA URL tokens and signed
blobs, made up or tampered with. Each verifier says no with its own refusal, never anything
else (anything else is a 500 at the edge)."""

import time

from hypothesis import example, given
from hypothesis import strategies as st

from reelcloud.platform import session_tokens
from reelcloud.platform.errors import BadRequestError, ForbiddenError
from reelcloud.platform.signed_blobs import SignedBlobs
from reelcloud.platform.signed_urls import SignatureError, UrlSigner, client_network
from tests.fuzz.strategies import FUZZ, hostile_text, outcome

SECRET = "fuzz-session-secret-0123456789"
NOW = 1_800_000_000
GOOD = session_tokens.issue(SECRET, "m-alice", session_id="s-1", ttl_s=3600, now=NOW)


@st.composite
def tampered(draw, good: str, alphabet: st.SearchStrategy[str]) -> str:
    """A genuine value with a few characters replaced, inserted or cut."""
    text = list(good)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["replace", "insert", "cut"]))
        char = draw(alphabet.filter(lambda c: len(c) == 1))
        if how == "insert" or not text:
            text.insert(at, char)
        elif how == "replace":
            text[min(at, len(text) - 1)] = char
        else:
            del text[min(at, len(text) - 1) :]
    return "".join(text)


base64ish = st.sampled_from("ABCxyz019-_=.~/+%\x00\ud800é")
session_tokens_to_try = st.one_of(
    hostile_text,
    tampered(GOOD, base64ish),
    st.builds(lambda a, b: f"{a}.{b}", hostile_text, hostile_text),
    # Claims of every shape, badly signed: never past the signature, never a crash.
    st.builds(
        lambda payload: session_tokens._b64(payload) + "." + session_tokens._b64(b"x" * 32),
        st.binary(max_size=64),
    ),
)


@FUZZ
@given(session_tokens_to_try)
@example(GOOD + "\ud800")  # a lone surrogate: str.encode() raised UnicodeEncodeError
@example(GOOD.replace(".", ".%=", 1))  # base64 skipped the "%=": the token had many spellings
@example(GOOD[:-1] + chr(ord(GOOD[-1]) ^ 1))  # unused low bits of the last character
@example("\ud800." + GOOD.split(".")[1])
@example("." * 1)
@example("a" * 5000 + ".b")
def test_a_session_token_is_the_genuine_one_or_an_invalid_token(token):
    claims, refused = outcome(
        lambda: session_tokens.verify(SECRET, token, now=NOW), session_tokens.InvalidTokenError
    )
    if refused is not None:
        assert refused.status == 401
        return
    assert token == GOOD
    assert claims["sub"] == "m-alice"


@FUZZ
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
))  # fmt: skip
def test_claims_of_any_shape_signed_with_the_secret_are_checked_not_trusted(claims):
    """Even a correctly signed token (a leaked secret, a bug elsewhere) with odd claims is
    refused cleanly unless it has a member, a session and an expiry in the future."""
    import hashlib
    import hmac

    import orjson

    try:
        payload = session_tokens._b64(orjson.dumps(claims))
    except TypeError:  # a float NaN or a key orjson will not write: not a token anyone sends
        return
    signature = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()
    try:
        got = session_tokens.verify(SECRET, f"{payload}.{session_tokens._b64(signature)}", now=NOW)
    except session_tokens.InvalidTokenError:
        return
    assert isinstance(got["sub"], str)
    assert isinstance(got["sid"], str)
    assert got["sid"]
    assert got["exp"] >= NOW


SIGNER = UrlSigner({"k1": "fuzz-url-key", "k2": "fuzz-url-key-2"})
URL_TOKEN = SIGNER.sign("t-abc", client_network("127.10.0.5"), NOW + 60)


@FUZZ
@given(
    st.one_of(hostile_text, tampered(URL_TOKEN, st.sampled_from("k12~_0.9Ab-\x00é\ud800"))),
    st.one_of(st.just("t-abc"), hostile_text),
    st.one_of(st.just("127.10.0.5"), st.ip_addresses().map(str), hostile_text),
)
@example(URL_TOKEN + "\ud800", "t-abc", "127.10.0.5")  # raised UnicodeEncodeError
@example(URL_TOKEN, "t-\ud800", "127.10.0.5")
@example(URL_TOKEN.replace("~", "~1_0", 1), "t-abc", "127.10.0.5")
@example("k1~" + "9" * 5000 + "~127.10.0.0_24~sig", "t-abc", "127.10.0.5")
def test_an_oca_url_token_verifies_or_is_a_signature_error(token, scope, address):
    grant, refused = outcome(lambda: SIGNER.verify(token, scope), SignatureError)
    if refused is not None:
        assert refused.status == 403
        return
    assert token == URL_TOKEN
    assert scope == "t-abc"
    assert isinstance(grant.allows(address, time.time()), bool)


BLOBS = SignedBlobs("fuzz-blob-secret", "steering session")
BLOB = BLOBS.encode({"t": "t-abc", "p": ["oca-1"], "x": NOW + 60})


@FUZZ
@given(st.one_of(hostile_text, tampered(BLOB, base64ish)))
@example(BLOB + "\ud800")
@example("." + BLOB.split(".")[1])
def test_a_signed_blob_decodes_or_is_refused_as_a_bad_request_or_forbidden(value):
    data, refused = outcome(lambda: BLOBS.decode(value, now=NOW), BadRequestError, ForbiddenError)
    if refused is not None:
        assert refused.status in (400, 403)
        return
    assert value == BLOB
    assert data["t"] == "t-abc"
