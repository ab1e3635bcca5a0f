"""The public HTTP/1.1 server: one asyncio protocol per connection, parsed with httptools.

Keep-alive and pipelining (requests on one connection are answered in order), limits on the
request line, headers and body enforced while parsing (414, 431, 413 before the body is read),
and malformed input answered 400 and closed. Bodies are buffered: the gateway carries small API
payloads; video goes straight from OCAs to clients.

Slow and greedy clients cannot hold the server: a request head must arrive whole within
`header_timeout_s` (counted from its first byte, or from the opening for a connection's first
request) and its body within `body_timeout_s` more, else 408 and close (a silent close when
nothing came at all); a keep-alive connection idle for `keep_alive_timeout_s` is closed; one
client address may hold `max_connections_per_client` connections, and one more is answered
429 with Retry-After and closed. A single sweep per server checks every connection once a
`sweep_interval_s`: the per-request path only notes the time a request began.
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
from reelcloud.platform.validation import MAX_DIGITS

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
    header_timeout_s: float = 10.0  # a request's first byte to the end of its head
    body_timeout_s: float = 30.0  # then the end of its body
    max_connections_per_client: int = 256  # per socket peer address
    # Peers the cap does not apply to: trusted proxies carry many clients' connections.
    uncapped_clients: frozenset[str] = frozenset()
    linger_s: float = 2.0  # after a refusal, how long what the client still sends is read
    sweep_interval_s: float = 1.0  # how often timeouts are checked (their resolution)


class Connections:
    """The open connections of one server, by client address, and the sweep that times them
    out: one timer for the server, not one per connection or request."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: set[HttpServerProtocol] = set()
        self.per_client: dict[str, int] = {}
        self.refused = 0  # connections over the per-client cap
        self.timed_out = 0  # closed by a header, body or keep-alive timeout
        self._sweeper: asyncio.TimerHandle | None = None

    def admit(self, connection: HttpServerProtocol, peer: str) -> bool:
        held = self.per_client.get(peer, 0)
        if (
            held >= self.limits.max_connections_per_client
            and peer not in self.limits.uncapped_clients
        ):
            self.refused += 1
            return False
        self.per_client[peer] = held + 1
        self.open.add(connection)
        if self._sweeper is None:
            self._schedule(connection._loop)
        return True

    def forget(self, connection: HttpServerProtocol, peer: str) -> None:
        self.open.discard(connection)
        held = self.per_client.get(peer, 0) - 1
        if held > 0:
            self.per_client[peer] = held
        else:
            self.per_client.pop(peer, None)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = loop.call_later(self.limits.sweep_interval_s, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = None
        now = loop.time()
        for connection in list(self.open):
            if connection.check_timeouts(now):
                self.timed_out += 1
        if self.open:  # else the next connection admitted starts it again
            self._schedule(loop)


# Method names as str without a decode per request (others are decoded as they come).
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


class _Refuse(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


class HttpServerProtocol(asyncio.Protocol):
    def __init__(
        self,
        handler: Handler,
        rejected: Rejected,
        limits: Limits,
        connections: Connections | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._handler = handler
        self._rejected = rejected
        self._limits = limits
        self._connections = connections or Connections(limits)
        self._admitted = False
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
        self._linger_until = 0.0  # closing after a refusal: the socket is closed then
        self._paused = False  # reading paused by us (not asked of the transport per request)
        self._last_active = 0.0  # when the worker last went idle
        # When the request being read began (0.0 between requests), and how far it has come:
        # 0 nothing of it yet, 1 in its head, 2 in its body.
        self._read_since = 0.0
        self._phase = 0
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
        if not self._connections.admit(self, self._peer):
            response = self._rejected(
                429, "too_many_connections", "this address has too many connections open"
            )
            response.set_header(b"retry-after", b"1")
            self._write(response, keep_alive=False)
            self._close()
            return
        self._admitted = True
        self._last_active = self._read_since = self._loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._admitted:
            self._admitted = False
            self._connections.forget(self, self._peer)
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
        if not self._read_since:  # set at the opening for a connection's first request
            self._read_since = self._loop.time()
        self._phase = 1

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
            and value.isdigit()  # ASCII digits (bytes); anything else the parser refuses
            and (len(value) > MAX_DIGITS or int(value) > self._limits.max_body_bytes)
        ):  # refused before the body is read
            raise _Refuse(413, "payload_too_large", "request body is too large")

    def on_headers_complete(self) -> None:
        self._phase = 2
        if self._parser.should_upgrade():
            raise _Refuse(400, "bad_request", "protocol upgrades are not supported")

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.max_body_bytes:
            raise _Refuse(413, "payload_too_large", "request body is too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._read_since = 0.0
        self._phase = 0
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
                    self._linger()
                    return
                self._last_active = loop.time()
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

    def _linger(self) -> None:
        """Close after a refusal without losing it: closing a socket with unread input sends
        a reset, and the client's TCP then drops the answer it had not read. So send FIN
        after the answer, read and drop what still comes, and close when the client does or
        after `linger_s` (as nginx's lingering close)."""
        transport = self._transport
        if transport is None or not transport.can_write_eof():
            self._close()
            return
        self._closing = True  # data_received drops input from now on
        self._linger_until = self._loop.time() + self._limits.linger_s
        transport.write_eof()
        if self._paused:
            self._paused = False
            transport.resume_reading()

    def check_timeouts(self, now: float) -> bool:
        """Called by the sweep: close (or answer 408) a connection too slow to send its
        request or idle too long; True when it was."""
        if self._closing:
            if self._linger_until and now >= self._linger_until and self._transport is not None:
                self._linger_until = 0.0
                self._transport.close()
            return False
        limits = self._limits
        since = self._read_since
        if since:
            allowed = limits.header_timeout_s
            if self._phase == 2:
                allowed += limits.body_timeout_s
            if now - since < allowed:
                return False
            if self._refusal is not None:  # refused already: its answer had its chance
                if now - since >= 2 * allowed:
                    self._close()
                return False
            if self._phase == 0:  # not a byte of it came: nothing to answer
                self._close()
            else:  # answered after the requests before it, then closed
                self._refuse(408, "request_timeout", "the request took too long to arrive")
            return True
        # Busy: requests waiting, or the worker is answering one (it is not parked on _waiter).
        busy = bool(self._queue) or (self._worker is not None and self._waiter is None)
        if not busy and now - self._last_active >= limits.keep_alive_timeout_s:
            self._close()
            return True
        return False


async def start_server(
    handler: Handler,
    rejected: Rejected,
    *,
    host: str,
    port: int,
    limits: Limits,
    reuse_port: bool = False,
    connections: Connections | None = None,  # given to look at them (tests, stats)
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    connections = connections or Connections(limits)
    return await loop.create_server(
        lambda: HttpServerProtocol(handler, rejected, limits, connections),
        host,
        port,
        reuse_port=reuse_port,
        backlog=1024,
    )
