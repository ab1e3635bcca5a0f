"""Pooled keep-alive HTTP/1.1 connections to origin instances, parsed with httptools.

One pool per instance address. Errors are named so the proxy endpoint can decide whether to
retry: `OriginConnectError` (nothing was sent, safe to retry any method), `OriginReadTimeout`
and `OriginResetError` (the request may have been processed: retry only idempotent methods).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import cast

import httptools

from reelcloud.gateway.http.messages import Headers


class OriginError(Exception):
    pass


class OriginConnectError(OriginError):
    pass


class OriginReadTimeout(OriginError):
    pass


class OriginResetError(OriginError):
    pass


@dataclass(slots=True)
class OriginResponse:
    status: int
    headers: Headers
    body: bytes


class _OriginConnection(asyncio.Protocol):
    def __init__(self, max_body_bytes: int) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._future: asyncio.Future[OriginResponse] | None = None
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._max_body_bytes = max_body_bytes
        self._body_bytes = 0
        self._head_request = False
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._future is not None and not self._future.done():
            self._future.set_exception(OriginResetError("origin closed the connection"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.reusable = False
            if self._future is not None and not self._future.done():
                self._future.set_exception(OriginResetError(f"bad response from origin: {exc}"))
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self._head_request:  # no body follows, whatever Content-Length says
            self.reusable = False
            self._finish()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._max_body_bytes:
            self.reusable = False
            if self._future is not None and not self._future.done():
                self._future.set_exception(OriginResetError("origin response is too large"))
            self.close()
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._finish()

    def _finish(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(
                OriginResponse(self._parser.get_status_code(), self._headers, b"".join(self._body))
            )

    async def request(
        self, head: bytes, body: bytes, *, head_request: bool, timeout_s: float
    ) -> OriginResponse:
        assert self._transport is not None
        self._future = asyncio.get_running_loop().create_future()
        self._headers, self._body, self._body_bytes = [], [], 0
        self._head_request = head_request
        self._transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self._transport.write(body)
        future = self._future
        # A timer handle is cheaper than asyncio.timeout() on this per-request path.
        timer = asyncio.get_running_loop().call_later(timeout_s, self._expire, future, timeout_s)
        try:
            return await future
        finally:
            timer.cancel()
            self._future = None

    def _expire(self, future: asyncio.Future[OriginResponse], timeout_s: float) -> None:
        if not future.done():
            future.set_exception(OriginReadTimeout(f"no response within {timeout_s:.1f} s"))
            self.close()

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    @property
    def alive(self) -> bool:
        return self.reusable and self._transport is not None and not self._transport.is_closing()


class OriginPool:
    """Idle keep-alive connections per origin address, reused newest first."""

    def __init__(
        self,
        *,
        connect_timeout_s: float = 0.5,
        max_idle_per_origin: int = 50,
        max_body_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._idle: defaultdict[tuple[str, int], list[_OriginConnection]] = defaultdict(list)
        self._connect_timeout_s = connect_timeout_s
        self._max_idle = max_idle_per_origin
        self._max_body_bytes = max_body_bytes

    async def _acquire(self, host: str, port: int) -> tuple[_OriginConnection, bool]:
        idle = self._idle[(host, port)]
        while idle:
            connection = idle.pop()
            if connection.alive:
                return connection, True
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _, protocol = await loop.create_connection(
                    lambda: _OriginConnection(self._max_body_bytes), host, port
                )
        except (OSError, TimeoutError) as exc:
            raise OriginConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return protocol, False

    async def request(
        self,
        host: str,
        port: int,
        method: str,
        target: bytes,
        headers: Headers,
        body: bytes,
        *,
        read_timeout_s: float,
    ) -> OriginResponse:
        lines = [
            b"%s %s HTTP/1.1" % (method.encode(), target),
            b"host: %s:%d" % (host.encode(), port),
        ]
        lines.extend(k + b": " + v for k, v in headers)
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"content-length: %d" % len(body))
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        connection, reused = await self._acquire(host, port)
        try:
            response = await connection.request(
                head, body, head_request=method == "HEAD", timeout_s=read_timeout_s
            )
        except OriginResetError:
            if reused:
                # A kept-alive connection the origin had already closed: nothing was processed
                # on it, so one fresh connection may try again (any method).
                connection, _ = await self._acquire_fresh(host, port)
                response = await connection.request(
                    head, body, head_request=method == "HEAD", timeout_s=read_timeout_s
                )
            else:
                raise
        self._release(host, port, connection)
        return response

    async def _acquire_fresh(self, host: str, port: int) -> tuple[_OriginConnection, bool]:
        for connection in self._idle.pop((host, port), []):
            connection.close()
        return await self._acquire(host, port)

    def _release(self, host: str, port: int, connection: _OriginConnection) -> None:
        idle = self._idle[(host, port)]
        if connection.alive and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
