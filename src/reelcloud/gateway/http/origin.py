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
    def __init__(self, loop: asyncio.AbstractEventLoop, max_body_bytes: int) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._future: asyncio.Future[OriginResponse] | None = None
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._max_body_bytes = max_body_bytes
        self._body_bytes = 0
        self._head_request = False
        # The read timeout: one timer per connection, re-armed only when it fires early,
        # instead of a timer set and cancelled for every request.
        self._deadline = 0.0
        self._timeout_s = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
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

    def send(
        self, head: bytes, body: bytes, *, head_request: bool, timeout_s: float
    ) -> asyncio.Future[OriginResponse]:
        """Write the request; the future is the origin's answer (or its named error). Not a
        coroutine: the pool awaits the future itself, one coroutine frame fewer per request."""
        assert self._transport is not None
        loop = self._loop
        future: asyncio.Future[OriginResponse] = loop.create_future()
        self._future = future
        self._headers, self._body, self._body_bytes = [], [], 0
        self._head_request = head_request
        if len(body) < 65536:
            self._transport.write(head + body)
        else:
            self._transport.write(head)
            self._transport.write(body)
        self._timeout_s = timeout_s
        self._deadline = deadline = loop.time() + timeout_s
        if self._timer is None or deadline < self._timer_at:  # none, or set for too late
            self._arm(deadline)
        return future

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._check_deadline)

    def _check_deadline(self) -> None:
        """The connection's timer: expire the request in flight if its deadline has passed,
        else sleep until it (a connection waiting idle in the pool needs no timer)."""
        self._timer = None
        future = self._future
        if future is None or future.done():
            return
        if self._loop.time() >= self._deadline:
            future.set_exception(OriginReadTimeout(f"no response within {self._timeout_s:.1f} s"))
            self.close()
        else:
            self._arm(self._deadline)

    def close(self) -> None:
        self.reusable = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
        self._host_lines: dict[tuple[str, int], bytes] = {}

    def _reuse(self, address: tuple[str, int]) -> _OriginConnection | None:
        idle = self._idle[address]
        while idle:
            connection = idle.pop()
            if connection.alive:
                return connection
        return None

    async def _connect(self, host: str, port: int) -> _OriginConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _, protocol = await loop.create_connection(
                    lambda: _OriginConnection(loop, self._max_body_bytes), host, port
                )
        except (OSError, TimeoutError) as exc:
            raise OriginConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return protocol

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
        address = (host, port)
        host_line = self._host_lines.get(address)
        if host_line is None:
            host_line = self._host_lines[address] = b"\r\nhost: %s:%d" % (host.encode(), port)
        lines = [method.encode(), b" ", target, b" HTTP/1.1", host_line]
        for name, value in headers:
            lines += (b"\r\n", name, b": ", value)
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"\r\ncontent-length: %d" % len(body))
        lines.append(b"\r\n\r\n")
        head = b"".join(lines)
        head_request = method == "HEAD"
        connection = self._reuse(address)
        if connection is None:
            connection = await self._connect(host, port)
            response = await connection.send(
                head, body, head_request=head_request, timeout_s=read_timeout_s
            )
        else:
            try:
                response = await connection.send(
                    head, body, head_request=head_request, timeout_s=read_timeout_s
                )
            except OriginResetError:
                # A kept-alive connection the origin had already closed: nothing was processed
                # on it, so one fresh connection may try again (any method).
                for stale in self._idle.pop(address, []):
                    stale.close()
                connection = await self._connect(host, port)
                response = await connection.send(
                    head, body, head_request=head_request, timeout_s=read_timeout_s
                )
        self._release(address, connection)
        return response

    def _release(self, address: tuple[str, int], connection: _OriginConnection) -> None:
        idle = self._idle[address]
        if connection.reusable and len(idle) < self._max_idle:  # alive is checked on reuse
            idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
