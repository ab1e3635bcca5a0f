import time

import pytest

from reelcloud.platform.errors import ForbiddenError
from reelcloud.services.license.tokens import PlayGrant, PlayTokens


def grant(**overrides):
    values = {
        "member_id": "m-alice",
        "title_id": "t-0123456789abcdef",
        "device_id": "d-alice-tv",
        "play_id": "pl-1",
        "key_id": "k1",
        "expires_at": int(time.time()) + 60,
        "session_id": "s-1",
    }
    values.update(overrides)
    return PlayGrant(**values)


def test_a_token_carries_its_play_and_nothing_else_verifies():
    tokens = PlayTokens("secret")
    token = tokens.issue(grant())
    assert tokens.verify(token) == grant(expires_at=grant().expires_at)
    payload, signature = token.split(".")
    other = PlayTokens("secret").issue(grant(title_id="t-ffffffffffffffff")).split(".")[0]
    cases = {
        f"{other}.{signature}": "invalid_play_token",  # claims swapped under a signature
        f"{payload}.{signature[:-2]}xx": "invalid_play_token",
        PlayTokens("another-secret").issue(grant()): "invalid_play_token",
        tokens.issue(grant(expires_at=int(time.time()) - 1)): "expired_play_token",
        "": "invalid_play_token",
        "a.b.c": "invalid_play_token",
        "x" * 5000: "invalid_play_token",
    }
    for bad, code in cases.items():
        with pytest.raises(ForbiddenError) as refused:
            tokens.verify(bad)
        assert refused.value.code == code


def test_a_play_token_with_a_non_ascii_signature_is_refused():
    # hmac.compare_digest alone raises TypeError on such a str: a 500.
    tokens = PlayTokens("secret")
    grant = PlayGrant("m", "t-1", "d", "pl-1", "k", int(time.time()) + 60, "s-1")
    with pytest.raises(ForbiddenError):
        tokens.verify(tokens.issue(grant)[:-1] + "±")
