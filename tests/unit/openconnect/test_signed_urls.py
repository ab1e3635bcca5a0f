import time

import pytest

from reelcloud.platform.signed_urls import SignatureError, UrlSigner, client_network

KEYS = {"k1": "first-secret", "k2": "second-secret"}


def test_a_token_verifies_for_its_title_network_and_time():
    signer = UrlSigner(KEYS)
    expires = int(time.time()) + 60
    token = signer.sign("t-abc", client_network("127.10.3.4"), expires)
    assert token.startswith("k2~")  # the newest key signs
    grant = signer.verify(token, "t-abc")
    assert grant.allows("127.10.3.200", time.time())
    assert not grant.allows("127.10.4.1", time.time())  # another /24
    assert not grant.allows("127.20.3.4", time.time())
    assert not grant.allows("::1", time.time())
    assert not grant.allows("not-an-ip", time.time())
    assert not grant.allows("127.10.3.4", expires)  # expired at the second


def test_tokens_do_not_open_other_titles_and_cannot_be_edited():
    signer = UrlSigner(KEYS)
    token = signer.sign("t-abc", "127.10.3.0/24", int(time.time()) + 60)
    with pytest.raises(SignatureError, match="does not match"):
        signer.verify(token, "t-other")
    kid, expires, network, signature = token.split("~")
    for edited in (
        f"{kid}~{int(expires) + 3600}~{network}~{signature}",  # longer life
        f"{kid}~{expires}~127.20.3.0_24~{signature}",  # another network
        f"{kid}~{expires}~127.0.0.0_8~{signature}",  # a wider one
        f"{kid}~{expires}~{network}~{signature[:-1]}{'B' if signature.endswith('A') else 'A'}",
    ):
        with pytest.raises(SignatureError):
            signer.verify(edited, "t-abc")
    for malformed in ("", "abc", "k1~1~2", "k9~1~127.0.0.0_8~sig", "~~~"):
        with pytest.raises(SignatureError):
            signer.verify(malformed, "t-abc")


def test_keys_rotate_by_id():
    old = UrlSigner({"k1": "first-secret"})
    token = old.sign("t-abc", "127.10.3.0/24", int(time.time()) + 60)
    rotated = UrlSigner(KEYS)  # k2 signs now, k1 still verifies
    assert rotated.verify(token, "t-abc").allows("127.10.3.9", time.time())
    retired = UrlSigner({"k2": "second-secret"})
    with pytest.raises(SignatureError, match="unknown key"):
        retired.verify(token, "t-abc")


def test_networks_and_scopes():
    assert client_network("127.10.3.4") == "127.10.3.0/24"
    assert client_network("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert client_network("127.10.255.1", exact=True) == "127.10.255.1/32"
    signer = UrlSigner(KEYS)
    v6 = signer.sign("t-abc", client_network("2001:db8:1:2::5"), int(time.time()) + 60)
    assert signer.verify(v6, "t-abc").allows("2001:db8:1:ffff::1", time.time())
    with pytest.raises(ValueError, match="title id"):
        signer.sign("../etc", "127.0.0.0/8", 1)
    with pytest.raises(ValueError, match="at least one"):
        UrlSigner({})
