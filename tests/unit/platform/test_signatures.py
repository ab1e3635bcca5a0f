"""A signature with non-ASCII characters (a hostile header, path or query) is refused like any
wrong signature: hmac.compare_digest alone raises TypeError on such a str, a 500."""

import time

import pytest

from reelcloud.platform.errors import ForbiddenError
from reelcloud.platform.oca_auth import SIGNATURE_HEADER, signed_headers, verify_request
from reelcloud.platform.signatures import signatures_match
from reelcloud.platform.signed_urls import SignatureError, UrlSigner


def test_signatures_match_only_the_same_signature():
    assert signatures_match("abc", "abc")
    assert not signatures_match("abc", "abd")
    assert not signatures_match("abc", "ab±")


def test_an_oca_request_with_a_non_ascii_signature_is_refused():
    headers = signed_headers("secret", "oca-a-1", "POST", "/v1/reports", b"{}")
    headers[SIGNATURE_HEADER] = "é" * len(headers[SIGNATURE_HEADER])
    with pytest.raises(ForbiddenError):
        verify_request("secret", headers, "POST", "/v1/reports", b"{}")


def test_a_url_token_with_a_non_ascii_signature_is_refused():
    signer = UrlSigner({"k1": "key"})
    token = signer.sign("t-1", "127.10.0.0/24", int(time.time()) + 60)
    with pytest.raises(SignatureError):
        signer.verify(token[:-1] + "±", "t-1")
