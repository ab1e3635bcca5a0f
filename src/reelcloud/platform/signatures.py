"""Comparing a signature a client sent with the one expected, in constant time.

`hmac.compare_digest` raises TypeError for a str with non-ASCII characters, which a hostile
header, path or query can carry: every signature check goes through here, so such input is a
refusal, never a 500."""

from __future__ import annotations

import hmac


def signatures_match(expected: str, given: str) -> bool:
    return given.isascii() and hmac.compare_digest(expected, given)
