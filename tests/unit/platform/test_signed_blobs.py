import time

import pytest

from reelcloud.platform.errors import BadRequestError, ForbiddenError
from reelcloud.platform.signed_blobs import SignedBlobs

BLOBS = SignedBlobs("secret", "play session")


def test_a_blob_round_trips():
    value = BLOBS.encode({"p": "pl-1", "x": time.time() + 60})
    assert BLOBS.decode(value)["p"] == "pl-1"


@pytest.mark.parametrize(
    "value",
    ["", "no-dot", "abc.±", "±.abc", "ab\u0099c.def", "a" * 9000 + ".b"],
)
def test_a_malformed_blob_is_a_bad_request(value):
    # Non-ASCII once reached hmac.compare_digest, which raises TypeError: a 500 (schemathesis).
    with pytest.raises(BadRequestError):
        BLOBS.decode(value)


def test_a_blob_of_another_purpose_is_refused():
    other = SignedBlobs("secret", "steering session").encode({"x": time.time() + 60})
    with pytest.raises(ForbiddenError):
        BLOBS.decode(other)


def test_an_expired_blob_is_refused():
    with pytest.raises(ForbiddenError, match="expired"):
        BLOBS.decode(BLOBS.encode({"x": 1}))
