"""The public HTTP/1.1 server: one asyncio protocol per connection, parsed with httptools.

Keep-alive and pipelining (requests on one connection are answered in order), limits on the
request line, headers and body enforced while parsing (414, 431, 413 before the body is read),
and malformed input answered 400 and closed. Bodies are buffered: the gateway carries small API
payloads; video goes straight from OCAs to clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote_to_bytes

import httptools

from reelcloud.gateway.http.messages import Headers, Request, Response, serialize

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
# Called for requests refused while parsing (no Request object exists for them).
Rejected = Callable[[int, str, str], Response]


@dataclass(frozen=True)
class Limits:
    max_url_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    max_pipelined: int = 16
    keep_alive_timeout_s: float = 60.0


# Method names as str without a decode per request (others are decoded as they come).
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


class _Refuse(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


class HttpServerProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, rejected: Rejected, limits: Limits) -> None:
        self._loop = asyncio.get_running_loop()
        self._handler = handler
        self._rejected = rejected
        self._limits = limits
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._queue: deque[Request] = deque()
        # One worker task per connection answers its requests in order; it waits on a future
        # between requests (cheaper than a new task per request on keep-alive connections).
        self._worker: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._refusal: Response | None = None  # answered once the requests before it are
        self._closing = False
        self._paused = False  # reading paused by us (not asked of the transport per request)
        self._idle: asyncio.TimerHandle | None = None
        self._last_active = 0.0
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: Headers = []
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0

    # ---- transport events ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._peer = peer[0] if peer else ""
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._idle is not None:
            self._idle.cancel()
        if self._worker is not None:
            self._worker.cancel()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except _Refuse as refuse:
            self._refuse(refuse.status, refuse.code, refuse.message)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refuse):
                self._refuse(cause.status, cause.code, cause.message)
            else:
                self._refuse(400, "bad_request", "malformed request")
        except httptools.HttpParserUpgrade:
            self._refuse(400, "bad_request", "protocol upgrades are not supported")
        except httptools.HttpParserError:
            self._refuse(400, "bad_request", "malformed request")

    # ---- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_url_bytes:
            raise _Refuse(414, "uri_too_long", "request target is too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self._limits.max_header_bytes:
            raise _Refuse(431, "headers_too_large", "request headers are too large")
        name = name.lower()
        self._headers.append((name, value))
        if (
            name == b"content-length"
            and value.isdigit()
            and int(value) > self._limits.max_body_bytes
        ):  # refused before the body is read
            raise _Refuse(413, "payload_too_large", "request body is too large")

    def on_headers_complete(self) -> None:
        if self._parser.should_upgrade():
            raise _Refuse(400, "bad_request", "protocol upgrades are not supported")

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.max_body_bytes:
            raise _Refuse(413, "payload_too_large", "request body is too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        target = self._url
        raw_path, _, query = target.partition(b"?")
        path_bytes = unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path
        if b"\x00" in path_bytes or not path_bytes.startswith(b"/"):
            raise _Refuse(400, "bad_path", "request path is malformed")
        try:
            path = path_bytes.decode()
        except UnicodeDecodeError:
            raise _Refuse(400, "bad_path", "request path is not UTF-8") from None
        parser = self._parser
        request = Request(  # positional: keyword calls cost more on this per-request path
            _METHODS.get(parser.get_method()) or parser.get_method().decode(),
            target,
            path,
            query,
            self._headers,
            b"".join(self._body) if self._body else b"",
            parser.get_http_version(),
            self._peer,
            parser.should_keep_alive(),
        )
        self._queue.append(request)
        if len(self._queue) >= self._limits.max_pipelined and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    # ---- answering ----------------------------------------------------------------------------

    async def _work(self) -> None:
        loop = self._loop
        while not self._closing:
            if not self._queue:
                if self._refusal is not None:
                    self._write(self._refusal, keep_alive=False)
                    self._close()
                    return
                self._arm_idle()
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
                continue
            request = self._queue.popleft()
            try:
                response = await self._handler(request)
            except Exception:
                log.exception("gateway handler failed")
                response = self._rejected(500, "internal", "internal error")
            self._write(response, keep_alive=request.keep_alive, head=request.method == "HEAD")
            if not request.keep_alive:
                self._close()
                return
            if self._paused and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()

    def _write(self, response: Response, *, keep_alive: bool, head: bool = False) -> None:
        if self._transport is not None and not self._closing:
            self._transport.write(serialize(response, keep_alive=keep_alive, head=head))

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer a request refused while parsing, after the ones already queued, then close."""
        self._refusal = self._rejected(status, code, message)
        if self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        elif self._worker is None:
            self._worker = self._loop.create_task(self._work())

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _arm_idle(self) -> None:
        """Note activity; one timer per connection checks it (re-arming a timer for every
        request would cost more than the check)."""
        loop = self._loop
        self._last_active = loop.time()
        if self._idle is None and not self._closing:
            self._idle = loop.call_later(self._limits.keep_alive_timeout_s, self._check_idle)

    def _check_idle(self) -> None:
        self._idle = None
        loop = self._loop
        idle_for = loop.time() - self._last_active
        # Busy: requests waiting, or the worker is answering one (it is not parked on _waiter).
        busy = bool(self._queue) or (self._worker is not None and self._waiter is None)
        if idle_for >= self._limits.keep_alive_timeout_s and not busy:
            self._close()
        elif not self._closing:
            wait = max(0.1, self._limits.keep_alive_timeout_s - idle_for)
            self._idle = loop.call_later(wait, self._check_idle)


async def start_server(
    handler: Handler,
    rejected: Rejected,
    *,
    host: str,
    port: int,
    limits: Limits,
    reuse_port: bool = False,
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpServerProtocol(handler, rejected, limits),
        host,
        port,
        reuse_port=reuse_port,
        backlog=1024,
    )
