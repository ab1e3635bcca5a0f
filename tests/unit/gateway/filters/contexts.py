"""Requests as the gateway's HTTP server hands them to the chain, without a socket."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import orjson

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.http.messages import Request, Response


def request(
    target: str = "/",
    *,
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    peer: str = "203.0.113.10",
    body: bytes = b"",
) -> Request:
    raw = target.encode()
    path, _, query = raw.partition(b"?")
    return Request(
        method,
        raw,
        unquote(path.decode()),
        query,
        # The server lower-cases header names as it parses them.
        [(name.lower().encode(), value.encode("latin-1")) for name, value in headers],
        body,
        "1.1",
        peer,
        True,
    )


def context(target: str = "/", **options: Any) -> RequestContext:
    return RequestContext(request(target, **options))


def header(response: Response | None, name: bytes) -> bytes | None:
    assert response is not None, "no response was set"
    values = [v for k, v in response.headers if k == name]
    assert len(values) <= 1, f"{name!r} is set {len(values)} times"
    return values[0] if values else None


def error(ctx: RequestContext) -> dict[str, str]:
    """The platform's JSON error body of the response, checked for its shape."""
    assert ctx.response is not None, "no response was set"
    assert header(ctx.response, b"content-type") == b"application/json"
    body = orjson.loads(ctx.response.body)
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return dict(body["error"])
