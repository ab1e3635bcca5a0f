"""How an OCA proves itself to cache control: a key per OCA and a signature per request.

Each OCA's key is derived from the platform's report secret and the OCA's id, so cache control
needs no key table and one OCA's key opens no other. A request carries its OCA id, a timestamp
and HMAC-SHA256(key, method, path, timestamp, body); requests older than `MAX_SKEW_S` are
refused, so a captured report cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from reelcloud.platform.errors import ForbiddenError
from reelcloud.platform.signatures import signatures_match

OCA_ID_HEADER = "X-OCA-Id"
TIMESTAMP_HEADER = "X-OCA-Timestamp"
SIGNATURE_HEADER = "X-OCA-Signature"
MAX_SKEW_S = 60.0


def oca_key(report_secret: str, oca_id: str) -> bytes:
    return hmac.new(
        report_secret.encode(), b"oca-report:" + oca_id.encode(), hashlib.sha256
    ).digest()


def _mac(key: bytes, method: str, path: str, timestamp: str, body: bytes) -> str:
    message = b"\n".join((method.encode(), path.encode(), timestamp.encode(), body))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(
    report_secret: str, oca_id: str, method: str, path: str, body: bytes = b""
) -> dict[str, str]:
    timestamp = f"{time.time():.3f}"
    key = oca_key(report_secret, oca_id)
    return {
        OCA_ID_HEADER: oca_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: _mac(key, method, path, timestamp, body),
    }


def verify_request(
    report_secret: str,
    headers: dict[str, str],
    method: str,
    path: str,
    body: bytes,
    *,
    now: float | None = None,
) -> str:
    """The OCA id a request was signed by; ForbiddenError when it is not genuine or too old."""
    oca_id = headers.get(OCA_ID_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not oca_id or not timestamp or not signature:
        raise ForbiddenError("OCA requests must be signed")
    try:
        sent_at = float(timestamp)
    except ValueError as exc:
        raise ForbiddenError("the timestamp is not a number") from exc
    if abs((time.time() if now is None else now) - sent_at) > MAX_SKEW_S:
        raise ForbiddenError("the request is too old (or the clocks disagree)")
    expected = _mac(oca_key(report_secret, oca_id), method, path, timestamp, body)
    if not signatures_match(expected, signature):
        raise ForbiddenError("the signature does not match")
    return oca_id
