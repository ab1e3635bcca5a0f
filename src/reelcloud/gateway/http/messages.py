"""Requests and responses as the gateway handles them: bytes in, bytes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Request:
    method: str
    target: bytes  # path and query as received
    path: str  # decoded path, without the query
    query: bytes
    headers: Headers
    body: bytes
    http_version: str
    peer: str  # the socket's remote address
    keep_alive: bool

    def header(self, name: bytes) -> bytes | None:
        """First value of a header (names compared lower-case)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Response:
    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""

    def set_header(self, name: bytes, value: bytes) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name]
        self.headers.append((name, value))


_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_STATUS_LINES = {code: b"HTTP/1.1 %d %s\r\n" % (code, reason) for code, reason in _REASONS.items()}
# Hop-by-hop headers are about one connection; a proxy never forwards them.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)


def serialize(response: Response, *, keep_alive: bool, head: bool = False) -> bytes:
    """The response on the wire. Headers are written as given: whoever copies headers from an
    origin drops the hop-by-hop ones (the proxy endpoint), once."""
    status_line = _STATUS_LINES.get(response.status)
    if status_line is None:
        status_line = b"HTTP/1.1 %d %s\r\n" % (
            response.status,
            _REASONS.get(response.status, b"Unknown"),
        )
    parts = [status_line]
    for name, value in response.headers:
        parts += (name, b": ", value, b"\r\n")
    body = response.body
    if keep_alive:
        parts.append(b"content-length: %d\r\n\r\n" % len(body))
    else:
        parts.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    if not head and body:
        parts.append(body)
    return b"".join(parts)
