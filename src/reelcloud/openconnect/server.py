"""The OCA's data plane: signed GET/HEAD of stored files over HTTP/1.1, bodies by `sendfile`.

Built the way nginx serves files rather than on a framework: non-blocking sockets watched with
`loop.add_reader`/`add_writer`, requests parsed with httptools, every reply decided
synchronously (no task or future per request), headers sent with MSG_MORE and the body handed
to the kernel with `os.sendfile`, so file bytes never pass through Python. It runs on uvloop or
asyncio alike, since it needs only their fd watchers.

A reply needs a token that verifies for the title, an unexpired grant for the client's network,
and a file the store holds: /v/<token>/<title id>/<file name>. Paths are matched against a
strict pattern, never joined onto a directory, so nothing outside the store can be named.

Slow clients cannot hold the server: a request must arrive whole within `header_timeout_s` of
its first byte (of the connection's opening, for the first one), an idle keep-alive connection
or one whose client takes no byte for `idle_timeout_s` is closed, and one client address may
hold at most `max_connections_per_client` connections (more are answered 429 and closed). One
sweep a second checks every connection: no timer per request or per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

import httptools
import orjson

from reelcloud.openconnect.store import ContentStore, OpenFile
from reelcloud.platform.assets import FILE_NAME
from reelcloud.platform.signed_urls import SCOPE, Grant, SignatureError, UrlSigner
from reelcloud.platform.validation import parse_byte_range

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    "m3u8": b"application/vnd.apple.mpegurl",
    "mpd": b"application/dash+xml",
    "m4s": b"video/iso.segment",
    "mp4": b"video/mp4",
    "ts": b"video/mp2t",
    "json": b"application/json",
}
GRANT_CACHE = 4096
# A large send buffer lets one sendfile call move more of a segment: fewer wake-ups per file.
SEND_BUFFER = 4 * 1024 * 1024
# Content-addressed files never change: caches may keep them for a year.
CACHING = b"Cache-Control: public, max-age=31536000, immutable\r\n"
CORS = (
    b"Access-Control-Allow-Origin: *\r\n"
    b"Access-Control-Expose-Headers: Content-Length, Content-Range, ETag\r\n"
)
REASONS = {
    200: b"OK",
    204: b"No Content",
    206: b"Partial Content",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    416: b"Range Not Satisfiable",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
}


@dataclass(frozen=True)
class ServerLimits:
    max_url_bytes: int = 4096
    max_header_bytes: int = 16 * 1024
    max_pipelined: int = 16
    header_timeout_s: float = 10.0  # from a request's first byte to its last
    idle_timeout_s: float = 60.0  # keep-alive with nothing asked, or a client taking nothing
    max_connections_per_client: int = 256  # per remote address
    linger_s: float = 2.0  # after a refusal, how long what the client still sends is read
    sweep_interval_s: float = 1.0  # how often the timeouts are checked (their resolution)


@dataclass
class ServingStats:
    """What the OCA reports about its serving: counters only, rates are taken by the reader."""

    connections: int = 0
    requests: int = 0
    errors: int = 0  # replies with a 4xx or 5xx status
    bytes_sent: int = 0
    refused_connections: int = 0  # over the per-client cap
    timed_out: int = 0  # closed by the header or idle timeout


class _Reply:
    __slots__ = ("file", "head", "keep_alive", "offset", "remaining")

    def __init__(
        self, head: bytes, file: OpenFile | None, offset: int, count: int, keep_alive: bool
    ) -> None:
        self.head = head
        self.file = file
        self.offset = offset
        self.remaining = count
        self.keep_alive = keep_alive


class SegmentServer:
    def __init__(
        self,
        store: ContentStore,
        signer: UrlSigner,
        *,
        clock: Callable[[], float] = time.time,
        limits: ServerLimits = ServerLimits(),  # frozen: one shared default is fine
    ) -> None:
        self.store = store
        self.signer = signer
        self.limits = limits
        self.stats = ServingStats()
        self._clock = clock
        self._grants: OrderedDict[tuple[str, str], Grant] = OrderedDict()
        self._connections: set[_Connection] = set()
        self._per_client: dict[str, int] = {}
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._date = b""
        self._date_at = 0

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        self._loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(1024)
        listener.setblocking(False)
        self._listener = listener
        self._loop.add_reader(listener.fileno(), self._accept)
        self._sweeper = self._loop.call_later(self.limits.sweep_interval_s, self._sweep)
        return int(listener.getsockname()[1])

    def close(self) -> None:
        if self._listener is not None and self._loop is not None:
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self._connections):
            connection.close()

    def _accept(self) -> None:
        assert self._listener is not None
        assert self._loop is not None
        for _ in range(64):
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, say: keep serving who we have
                log.warning("accept failed: %s", exc)
                return
            sock.setblocking(False)
            peer = address[0]
            held = self._per_client.get(peer, 0)
            if held >= self.limits.max_connections_per_client:
                self._refuse_connection(sock)
                continue
            self._per_client[peer] = held + 1
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            connection = _Connection(self, self._loop, sock, peer)
            self._connections.add(connection)
            self.stats.connections += 1

    def _refuse_connection(self, sock: socket.socket) -> None:
        """One client address holds too many connections: say so and close this one."""
        self.stats.refused_connections += 1
        reply = self._error(
            429,
            "too_many_connections",
            "this address has too many connections open",
            keep_alive=False,
            extra=b"Retry-After: 1\r\n",
            counted=False,
        )
        with contextlib.suppress(OSError):  # a new socket takes a small reply whole, or is gone
            sock.send(reply.head)
        sock.close()

    def _forget(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        self.stats.connections -= 1
        held = self._per_client.get(connection.peer, 0) - 1
        if held > 0:
            self._per_client[connection.peer] = held
        else:
            self._per_client.pop(connection.peer, None)

    def _sweep(self) -> None:
        """Close what is too slow: a request not whole within the header timeout (408 when
        some of it came), a keep-alive connection idle, or a client that takes no byte."""
        assert self._loop is not None
        limits = self.limits
        now = self._loop.time()
        head_due = now - limits.header_timeout_s
        idle_since = now - limits.idle_timeout_s
        for connection in list(self._connections):
            if connection.closed:
                continue
            if connection.lingering:
                if now >= connection.linger_until:
                    connection.close()
            elif connection.refused:  # its answer is queued: it has a while to take it
                if connection.last_active < head_due:
                    connection.close()
            elif connection.head_since and connection.head_since < head_due:
                self.stats.timed_out += 1
                if connection.in_head:
                    connection.refuse(
                        408, "request_timeout", "the request took too long", counted=False
                    )
                    connection.flush()
                else:  # it never said a word
                    connection.close()
            elif connection.last_active < idle_since and (
                not connection.replies or connection.writing
            ):
                self.stats.timed_out += 1
                connection.close()
        self._sweeper = self._loop.call_later(limits.sweep_interval_s, self._sweep)

    @property
    def active_connections(self) -> int:
        return len(self._connections)

    # ---- replies -------------------------------------------------------------------------------

    def _now_header(self) -> bytes:
        now = int(time.time())
        if now != self._date_at:
            self._date_at = now
            self._date = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self._date

    def _error(
        self,
        status: int,
        code: str,
        message: str,
        keep_alive: bool,
        extra: bytes = b"",
        *,
        counted: bool = True,
    ) -> _Reply:
        """An error reply; `counted` ones are in the error rate the OCA reports (refusals of
        slow or greedy clients are not: they would let anyone make an OCA look unhealthy)."""
        if counted:
            self.stats.errors += 1
        body = orjson.dumps({"error": {"code": code, "message": message}})
        head = b"".join(
            (
                b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status]),
                self._now_header(),
                b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
                extra,
                CORS,
                b"" if keep_alive else b"Connection: close\r\n",
                b"\r\n",
                body,
            )
        )
        return _Reply(head, None, 0, 0, keep_alive)

    def _grant(self, token: str, title_id: str) -> Grant:
        key = (token, title_id)
        grant = self._grants.get(key)
        if grant is None:
            grant = self.signer.verify(token, title_id)
            self._grants[key] = grant
            if len(self._grants) > GRANT_CACHE:
                self._grants.popitem(last=False)
        return grant

    def respond(
        self, method: bytes, target: bytes, range_value: str | None, peer: str, keep_alive: bool
    ) -> _Reply:
        self.stats.requests += 1
        if method not in (b"GET", b"HEAD"):
            if method == b"OPTIONS":
                return self._preflight(keep_alive)
            return self._error(405, "method_not_allowed", "only GET and HEAD", keep_alive)
        path = target.split(b"?", 1)[0]
        try:
            text = path.decode("ascii")
        except UnicodeDecodeError:
            return self._error(400, "bad_path", "the path is not ASCII", keep_alive)
        parts = text.split("/")
        # ['', 'v', token, title id, file name]
        if len(parts) != 5 or parts[0] or parts[1] != "v":
            if text == "/healthz":
                return self._plain(b"ok", keep_alive)
            return self._error(400, "bad_path", "expected /v/<token>/<title>/<file>", keep_alive)
        _, _, token, title_id, name = parts
        if not SCOPE.match(title_id) or not FILE_NAME.match(name):
            return self._error(400, "bad_path", "not a title id and file name", keep_alive)
        try:
            grant = self._grant(token, title_id)
        except SignatureError as exc:
            return self._error(403, "forbidden", exc.message, keep_alive)
        now = self._clock()
        if not grant.allows(peer, now):
            if grant.expires <= now:
                return self._error(403, "expired", "the URL has expired", keep_alive)
            return self._error(
                403, "wrong_network", "the URL was issued to another network", keep_alive
            )
        content_id = self.store.lookup(title_id, name)
        if content_id is None:
            return self._error(404, "not_found", "this OCA does not hold that file", keep_alive)
        file = self.store.open(content_id)
        size = file.size
        status, first, count = 200, 0, size
        extra = b""
        if range_value is not None:
            wanted = parse_byte_range(range_value, size)
            if wanted is False:
                file.release()
                return self._error(
                    416,
                    "range_not_satisfiable",
                    "the range starts past the end of the file",
                    keep_alive,
                    b"Content-Range: bytes */%d\r\n" % size,
                )
            if wanted is not None:
                first, last = wanted  # type: ignore[misc]
                status, count = 206, last - first + 1
                extra = b"Content-Range: bytes %d-%d/%d\r\n" % (first, last, size)
        extension = name.rpartition(".")[2]
        head = b"".join(
            (
                b"HTTP/1.1 200 OK\r\n" if status == 200 else b"HTTP/1.1 206 Partial Content\r\n",
                self._now_header(),
                b"Content-Type: ",
                CONTENT_TYPES.get(extension, b"application/octet-stream"),
                b"\r\nContent-Length: %d\r\n" % count,
                extra,
                b'ETag: "%s"\r\nAccept-Ranges: bytes\r\n' % content_id.encode(),
                CACHING,
                CORS,
                b"" if keep_alive else b"Connection: close\r\n",
                b"\r\n",
            )
        )
        if method == b"HEAD" or count == 0:
            file.release()
            return _Reply(head, None, 0, 0, keep_alive)
        return _Reply(head, file, first, count, keep_alive)

    def _plain(self, body: bytes, keep_alive: bool) -> _Reply:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s" % (
            len(body),
            b"" if keep_alive else b"Connection: close\r\n",
            body,
        )
        return _Reply(head, None, 0, 0, keep_alive)

    def _preflight(self, keep_alive: bool) -> _Reply:
        head = (
            b"HTTP/1.1 204 No Content\r\n"
            b"Access-Control-Allow-Origin: *\r\n"
            b"Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
            b"Access-Control-Allow-Headers: Range\r\n"
            b"Access-Control-Max-Age: 86400\r\n"
            + (b"" if keep_alive else b"Connection: close\r\n")
            + b"\r\n"
        )
        return _Reply(head, None, 0, 0, keep_alive)


class _Connection:
    """One client connection: parse, queue replies in order, send them, repeat."""

    def __init__(
        self, server: SegmentServer, loop: asyncio.AbstractEventLoop, sock: socket.socket, peer: str
    ) -> None:
        self.server = server
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.parser = httptools.HttpRequestParser(self)
        self.limits = server.limits
        self.replies: deque[_Reply] = deque()
        self.last_active = loop.time()
        # When the request being read began (its first byte; the opening, for the first one),
        # 0.0 between requests; in_head: some byte of it has come.
        self.head_since = self.last_active
        self.in_head = False
        self.closed = False
        self.refused = False
        self.lingering = False  # refused and answered: input is read and dropped until close
        self.linger_until = 0.0
        self.reading = True
        self.writing = False
        self._url = b""
        self._range: str | None = None
        self._header_bytes = 0
        self._header_name = b""
        loop.add_reader(self.fd, self._on_readable)

    # ---- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._range = None
        self._header_bytes = 0
        if not self.head_since:  # set at the opening for the first request
            self.head_since = self.last_active  # the time of the read that brought this byte
        self.in_head = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.limits.max_url_bytes:
            raise _Refused(400, "url_too_long", "the URL is too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self.limits.max_header_bytes:
            raise _Refused(431, "headers_too_large", "the request headers are too large")
        if len(name) == 5 and name.lower() == b"range":
            self._range = value.decode("latin-1")

    def on_message_complete(self) -> None:
        self.head_since = 0.0
        self.in_head = False
        keep_alive = bool(self.parser.should_keep_alive())
        reply = self.server.respond(
            self.parser.get_method(), self._url, self._range, self.peer, keep_alive
        )
        self.replies.append(reply)

    # ---- socket events -------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.last_active = self.loop.time()
        if self.lingering:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:  # a limit, raised in a callback
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, _Refused):
                self.refuse(cause.status, cause.code, cause.message)
            else:
                self.refuse(400, "malformed", "the request is not valid HTTP/1.1")
        except httptools.HttpParserUpgrade:
            self.refuse(400, "upgrade_refused", "protocol upgrades are not supported")
        except httptools.HttpParserError:
            self.refuse(400, "malformed", "the request is not valid HTTP/1.1")
        if len(self.replies) >= self.limits.max_pipelined and self.reading:
            self.loop.remove_reader(self.fd)
            self.reading = False
        self._send()

    def refuse(self, status: int, code: str, message: str, *, counted: bool = True) -> None:
        """Answer `status` after the replies already queued, then close; read no more."""
        self.refused = True
        self.head_since = 0.0
        reply = self.server._error(status, code, message, keep_alive=False, counted=counted)
        self.replies.append(reply)
        if self.reading:
            self.loop.remove_reader(self.fd)
            self.reading = False

    def flush(self) -> None:
        self._send()

    def _on_writable(self) -> None:
        self._send()

    def _send(self) -> None:
        """Send queued replies until done or the socket is full (then wait to be writable)."""
        sock, stats = self.sock, self.server.stats
        while self.replies and not self.closed:
            reply = self.replies[0]
            try:
                if reply.head:
                    flags = socket.MSG_MORE if reply.file is not None else 0
                    sent = sock.send(reply.head, flags)
                    reply.head = reply.head[sent:]
                    if reply.head:
                        self._wait_writable()
                        return
                while reply.remaining:
                    assert reply.file is not None
                    sent = os.sendfile(self.fd, reply.file.fd, reply.offset, reply.remaining)
                    if sent == 0:  # the file shrank under us: nothing more to send
                        raise OSError(errno.EIO, "file truncated")
                    reply.offset += sent
                    reply.remaining -= sent
                    stats.bytes_sent += sent
            except (BlockingIOError, InterruptedError):
                self._wait_writable()
                return
            except OSError:
                self.close()
                return
            self.replies.popleft()
            if reply.file is not None:
                reply.file.release()
                reply.file = None
            if not reply.keep_alive:
                if self.refused:
                    self._linger()
                else:
                    self.close()
                return
        if self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False
        if not self.reading and not self.closed and not self.refused:
            self.loop.add_reader(self.fd, self._on_readable)
            self.reading = True

    def _linger(self) -> None:
        """Close after a refusal without losing it: closing a socket with unread input sends
        a reset, and the client's TCP then drops the answer it had not read. So send FIN
        after the answer, read and drop what still comes, and close when the client does or
        after `linger_s` (as nginx's lingering close)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.lingering = True
        self.linger_until = self.loop.time() + self.limits.linger_s
        if self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False
        if not self.reading:
            self.loop.add_reader(self.fd, self._on_readable)
            self.reading = True

    def _wait_writable(self) -> None:
        self.last_active = self.loop.time()
        if not self.writing:
            self.loop.add_writer(self.fd, self._on_writable)
            self.writing = True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.reading:
            self.loop.remove_reader(self.fd)
        if self.writing:
            self.loop.remove_writer(self.fd)
        for reply in self.replies:
            if reply.file is not None:
                reply.file.release()
        self.replies.clear()
        self.sock.close()
        self.server._forget(self)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
