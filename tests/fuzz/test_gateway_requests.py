"""The gateway's HTTP server and its filters fed anything a client can send: request lines,
headers (tokens, cookies, forwarded-for, request ids, CORS), bodies, in any chunking. Every
request gets a well-formed answer that is never a 5xx, errors carry the JSON error body, and
the chain never sees a path that does not start with "/" or holds a NUL."""

import asyncio
import io
import re
import tempfile
from pathlib import Path

import orjson
import yaml
from hypothesis import example, given, note
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from reelcloud.gateway.chain import FilterChain, rejected
from reelcloud.gateway.filters.endpoint.health import HealthEndpoint
from reelcloud.gateway.filters.endpoint.static import StaticEndpoint
from reelcloud.gateway.filters.inbound.authentication import AuthenticationFilter
from reelcloud.gateway.filters.inbound.client_address import ClientAddressFilter
from reelcloud.gateway.filters.inbound.cors_preflight import CorsPreflightFilter
from reelcloud.gateway.filters.inbound.load_shedding import InFlight, LoadSheddingFilter
from reelcloud.gateway.filters.inbound.method_guard import MethodGuardFilter
from reelcloud.gateway.filters.inbound.rate_limit import RateLimitFilter
from reelcloud.gateway.filters.inbound.request_id import RequestIdFilter
from reelcloud.gateway.filters.inbound.routing import RoutingFilter
from reelcloud.gateway.filters.outbound.access_log import AccessLogFilter
from reelcloud.gateway.filters.outbound.cors import CorsFilter
from reelcloud.gateway.filters.outbound.metrics import MetricsFilter
from reelcloud.gateway.filters.outbound.request_id import ResponseIdFilter
from reelcloud.gateway.filters.outbound.security_headers import SecurityHeadersFilter
from reelcloud.gateway.http.messages import Request, Response
from reelcloud.gateway.http.server import HttpServerProtocol, Limits
from reelcloud.gateway.ratelimit import TokenBuckets
from reelcloud.gateway.routing import RouteTable
from reelcloud.platform import session_tokens
from reelcloud.platform.clock import SystemClock
from tests.fuzz.strategies import FUZZ, hostile_text

SECRET = "fuzz-session-secret-0123456789"
TOKEN = session_tokens.issue(SECRET, "m-alice", session_id="s-1").encode()
TRUSTED = frozenset({"127.0.0.9"})
STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def build_chain() -> FilterChain:
    root = Path(tempfile.mkdtemp(prefix="reelcloud-fuzz-gw-"))
    (root / "web").mkdir()
    (root / "web" / "index.html").write_text("<h1>hi</h1>")
    routes = root / "routes.yaml"
    routes.write_text(yaml.safe_dump({"routes": [
        {"prefix": "/healthcheck", "endpoint": "health", "auth": "none"},
        {"prefix": "/me", "endpoint": "health", "auth": "required"},
        {"prefix": "/maybe", "endpoint": "health", "auth": "optional"},
        {"prefix": "/", "endpoint": "static", "auth": "none"},
    ]}))  # fmt: skip
    in_flight = InFlight()
    clock = SystemClock()
    inbound = [
        MethodGuardFilter(),
        RequestIdFilter(TRUSTED),
        ClientAddressFilter(TRUSTED),
        LoadSheddingFilter(in_flight, 1000),
        CorsPreflightFilter(),
        RoutingFilter(RouteTable.load(routes)),
        AuthenticationFilter(SECRET),
        RateLimitFilter(TokenBuckets(1e9, 10**9, clock), TokenBuckets(1e9, 10**9, clock)),
    ]
    outbound = [
        CorsFilter(["http://127.0.0.1:8080"]),
        SecurityHeadersFilter(),
        ResponseIdFilter(),
        MetricsFilter(CollectorRegistry()),
        AccessLogFilter("gateway", "fuzz:gateway:1", stream=io.BytesIO()),
    ]
    return FilterChain(
        inbound, [HealthEndpoint(), StaticEndpoint(root / "web")], outbound, in_flight
    )


CHAIN = build_chain()
LOOP = asyncio.new_event_loop()
SEEN: list[Request] = []


async def handle(request: Request) -> Response:
    SEEN.append(request)
    return await CHAIN.handle(request)


class Transport(asyncio.Transport):
    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer
        self.sent = bytearray()
        self.closed = False
        self.eof = False

    def get_extra_info(self, name, default=None):
        return (self.peer, 40000) if name == "peername" else default

    def write(self, data) -> None:
        assert not self.eof, "written after FIN"
        self.sent += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def exchange(data: bytes, chunk: int, peer: str) -> bytes:
    """Feed `data` to a server connection `chunk` bytes at a time; what it answered once it
    has nothing more to do (it closed, or waits for more input)."""

    async def run() -> bytes:
        protocol = HttpServerProtocol(
            handle, rejected, Limits(max_url_bytes=256, max_header_bytes=1024, max_body_bytes=512)
        )
        transport = Transport(peer)
        protocol.connection_made(transport)
        for at in range(0, len(data), chunk):
            protocol.data_received(data[at : at + chunk])
        for _ in range(10_000):  # the chain is in-process: a few turns of the loop finish it
            idle = not protocol._queue and (protocol._worker is None or protocol._waiter)
            if transport.closed or transport.eof or (idle and protocol._refusal is None):
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError(f"the connection never settled after {data[:100]!r}")
        protocol.connection_lost(None)
        return bytes(transport.sent)

    return LOOP.run_until_complete(run())


methods = st.sampled_from([b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH",
                           b"TRACE", b"CONNECT", b"BREW", b"get"])  # fmt: skip
targets = st.one_of(
    st.sampled_from([b"/", b"/healthcheck", b"/me", b"/maybe", b"/index.html", b"/../etc/passwd",
                     b"/%2e%2e/secret", b"/a%00b", b"*", b"http://x/", b"/%ff", b"/me?x=%00"]),
    st.binary(max_size=40).map(lambda b: b"/" + b.replace(b" ", b"")),
    hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass").replace(b" ", b"")),
)  # fmt: skip
header_values = st.one_of(
    st.sampled_from([b"Bearer " + TOKEN, b"Bearer " + TOKEN[:-3] + b"xyz", b"Bearer ",
                     b"session=" + TOKEN, b"session=\xff\xfe", b"127.0.0.1, 10.0.0.1",
                     b"not an address", b"chunked", b"gzip, chunked", b"-1", b"1_0", b"+5",
                     b"99999999999999999999999", b"http://127.0.0.1:8080", b"null", b"abc\x00",
                     b"x" * 300]),
    st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b),
)  # fmt: skip
header_names = st.sampled_from([b"Host", b"Authorization", b"Cookie", b"X-Forwarded-For",
                                b"X-Request-Id", b"Origin", b"Content-Length",
                                b"Transfer-Encoding", b"Connection", b"Expect", b"Upgrade",
                                b"Access-Control-Request-Method", b"X-Reelcloud-Fault",
                                b"Bad Name", b"X\x00"])  # fmt: skip


@st.composite
def requests(draw) -> bytes:
    method = draw(methods)
    target = draw(targets)
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/9"]))
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=6))
    body = draw(st.binary(max_size=40))
    if draw(st.booleans()):
        headers.append((b"Content-Length", str(len(body)).encode()))
    lines = [method + b" " + target + b" " + version]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@FUZZ
@given(
    st.one_of(requests(), st.lists(requests(), min_size=2, max_size=4).map(b"".join),
              st.binary(max_size=300)),
    st.integers(1, 64),
    st.sampled_from(["203.0.113.7", "127.0.0.9", "::1"]),
)  # fmt: skip
@example(b"GET /me HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n\r\n", 5, "203.0.113.7")
@example(b"GET /me HTTP/1.1\r\nCookie: session=\xed\xa0\x80\r\n\r\n", 64, "203.0.113.7")
@example(b"GET /a%00b HTTP/1.1\r\n\r\n", 1, "203.0.113.7")
@example(b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 30 + b"\r\n\r\n", 64, "::1")
@example(b"GET / HTTP/1.1\r\nX-Forwarded-For: \xff, ::g\r\n\r\n", 64, "127.0.0.9")
def test_every_request_gets_a_well_formed_answer_and_never_a_5xx(data, chunk, peer):
    SEEN.clear()
    note(f"data={data!r} chunk={chunk} peer={peer}")
    said = exchange(data, chunk, peer)
    note(f"said={said!r}")
    for request in SEEN:
        assert request.path.startswith("/")
        assert "\x00" not in request.path
    position = 0
    while position < len(said):
        match = STATUS_LINE.match(said, position)
        assert match, said[position : position + 200]
        status = int(match.group(1))
        assert status < 500, said[position : position + 400]
        head_end = said.index(b"\r\n\r\n", position) + 4
        head = said[position:head_end].lower()
        length = int(re.search(rb"\r\ncontent-length: (\d+)\r\n", head).group(1))
        # A HEAD's answer has a length but no body: the next answer starts right there.
        if said.startswith(b"HTTP/1.1 ", head_end) or head_end == len(said):
            position = head_end
            continue
        body = said[head_end : head_end + length]
        if status >= 400 and b"content-type: application/json" in head:
            error = orjson.loads(body)["error"]
            assert error["code"]
            assert error["message"]
        position = head_end + length


def test_the_exchange_sees_what_a_client_would():
    said = exchange(b"GET /healthcheck HTTP/1.1\r\n\r\nGET /me HTTP/1.1\r\n\r\n", 3, "203.0.113.7")
    first, _, rest = said.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"HTTP/1.1 401 Unauthorized\r\n" in rest
    assert b'"code":"unauthenticated"' in rest
