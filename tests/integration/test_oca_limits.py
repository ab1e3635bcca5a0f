"""The OCA's segment server against slow and greedy clients, over real loopback sockets: the
header timeout, the idle timeout, the per-address connection cap, and strict Range headers."""

import asyncio
import os
import time

import pytest
import pytest_asyncio
from tests.support.openconnect import KEYS, stock
from tests.support.waiting import wait_for

from reelcloud.openconnect.server import SegmentServer, ServerLimits
from reelcloud.openconnect.store import ContentStore
from reelcloud.platform.signed_urls import UrlSigner, client_network

pytestmark = pytest.mark.asyncio

OCA = "127.10.255.78"
GREEDY = "127.10.0.66"  # one client address that opens too much
OTHER = "127.10.0.67"
DATA = os.urandom(5000)


def limits(**changes: float) -> ServerLimits:
    # A short header timeout and a fast sweep keep the tests quick; the defaults are 10 s, 1 s.
    return ServerLimits(**{"header_timeout_s": 0.5, "sweep_interval_s": 0.05, **changes})


@pytest_asyncio.fixture
async def start(tmp_path):
    servers: list[SegmentServer] = []

    async def start(server_limits: ServerLimits) -> tuple[SegmentServer, int]:
        store = ContentStore(tmp_path / f"oca{len(servers)}", 10**9)
        stock(store, "t-abc", {"seg_1.m4s": DATA})
        server = SegmentServer(store, UrlSigner(KEYS), limits=server_limits)
        servers.append(server)
        return server, await server.start(OCA, 0)

    yield start
    for server in servers:
        server.close()


def segment_path(client: str) -> str:
    token = UrlSigner(KEYS).sign("t-abc", client_network(client), int(time.time()) + 60)
    return f"/v/{token}/t-abc/seg_1.m4s"


async def exchange(port: int, request: bytes, source: str = OTHER) -> bytes:
    """Send a request with Connection: close and read the answer to its end."""
    reader, writer = await asyncio.open_connection(OCA, port, local_addr=(source, 0))
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: oca", "Connection: close", *headers, "", ""]
    return "\r\n".join(lines).encode()


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_trickling(port: int, count: int, source: str) -> list[Connection]:
    """`count` connections that each send part of a request head and never the rest."""
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(OCA, port, local_addr=(source, 0))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: oca\r\n")  # never the blank line
        connections.append((reader, writer))
    return connections


async def answer_or_close(reader: asyncio.StreamReader) -> bytes:
    """What the server says before it closes (b"" when it closes without a word)."""
    try:
        return await asyncio.wait_for(reader.read(-1), 30)
    except ConnectionResetError:
        return b""


async def test_a_request_head_that_never_ends_is_answered_408_and_closed(start):
    server, port = await start(limits())
    ((reader, writer),) = await open_trickling(port, 1, OTHER)
    answer = await answer_or_close(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert b"Connection: close" in answer
    assert answer.endswith(
        b'{"error":{"code":"request_timeout","message":"the request took too long"}}'
    )
    await wait_for(lambda: server.active_connections == 0, what="the server lets it go")


async def test_a_connection_that_sends_nothing_is_closed_without_a_word(start):
    server, port = await start(limits())
    reader, writer = await asyncio.open_connection(OCA, port, local_addr=(OTHER, 0))
    try:
        assert await answer_or_close(reader) == b""
    finally:
        writer.close()
    assert server.stats.timed_out == 1


async def test_bytes_trickled_one_at_a_time_do_not_extend_the_deadline(start):
    _, port = await start(limits())
    reader, writer = await asyncio.open_connection(OCA, port, local_addr=(OTHER, 0))
    writer.write(b"GET /healthz HTTP/1.1\r\nX-Endless: ")
    answer = asyncio.ensure_future(answer_or_close(reader))
    try:
        # One more byte of a header that never ends, until the server gives up: if each byte
        # pushed the deadline back, this would go on until the test's own timeout.
        while not answer.done():
            writer.write(b"a")
            await asyncio.sleep(0.05)  # the client's pace, not a wait for the server
    finally:
        writer.close()
    assert (await answer).startswith(b"HTTP/1.1 408")


async def test_an_idle_keep_alive_connection_is_closed(start):
    server, port = await start(limits(idle_timeout_s=0.3))
    reader, writer = await asyncio.open_connection(OCA, port, local_addr=(OTHER, 0))
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: oca\r\n\r\n")
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
        assert await answer_or_close(reader) == b""  # then nothing more, and closed
    finally:
        writer.close()
    await wait_for(lambda: server.active_connections == 0, what="the server lets it go")


async def test_a_keep_alive_connection_waiting_between_requests_is_not_cut(start):
    """Between requests the idle timeout applies, not the header timeout."""
    server, port = await start(limits(idle_timeout_s=60))
    reader, writer = await asyncio.open_connection(OCA, port, local_addr=(OTHER, 0))
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: oca\r\n\r\n")
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
        # A witness opened after that answer: once it is cut off, a header timeout has
        # passed for the kept-alive connection too.
        ((witness, witness_writer),) = await open_trickling(port, 1, OTHER)
        assert (await answer_or_close(witness)).startswith(b"HTTP/1.1 408")
        witness_writer.close()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: oca\r\n\r\n")
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
    assert server.stats.timed_out == 1


async def test_one_address_gets_at_most_its_cap_of_connections_and_hears_429(start):
    server, port = await start(limits(header_timeout_s=60, max_connections_per_client=8))
    greedy = await open_trickling(port, 8, GREEDY)
    await wait_for(lambda: server.active_connections == 8, what="8 connections accepted")
    reader, writer = await asyncio.open_connection(OCA, port, local_addr=(GREEDY, 0))
    try:
        answer = await answer_or_close(reader)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), answer
    assert b"Retry-After: 1\r\n" in answer
    assert b"Connection: close\r\n" in answer
    assert b'"code":"too_many_connections"' in answer
    # Another address is served; so is the greedy one once it lets a connection go.
    assert (await exchange(port, get("/healthz"))).endswith(b"ok")
    greedy[0][1].close()
    await wait_for(lambda: server.active_connections == 7, what="the server lets one go")
    assert (await exchange(port, get("/healthz"), source=GREEDY)).endswith(b"ok")
    assert server.stats.refused_connections == 1
    for _, writer in greedy:
        writer.close()


async def test_a_thousand_trickling_connections_from_one_address_starve_no_one(start):
    server, port = await start(limits(header_timeout_s=60))  # the default cap: 256
    greedy = await open_trickling(port, 1000, GREEDY)
    try:
        await wait_for(
            lambda: server.stats.refused_connections == 1000 - 256,
            what=lambda: f"744 refused ({server.stats.refused_connections})",
        )
        assert server.active_connections == 256
        # Refusing a greedy client is no error of the OCA's: its reported error rate is clean.
        assert server.stats.errors == 0
        for _ in range(5):  # health checks and segments, from elsewhere
            assert (await exchange(port, get("/healthz"))).endswith(b"ok")
            assert (await exchange(port, get(segment_path(OTHER)))).endswith(DATA)
    finally:
        for _, writer in greedy:
            writer.close()
    await wait_for(lambda: server.active_connections == 0, what="every connection let go")


@pytest.mark.parametrize(
    "value",
    ["bytes=1_0-2_0", "bytes=+1-2", "bytes=0x1-2", "bytes=1-2-3", "bytes= 1-2", "bytes=-+5",
     "bytes=\u0661-2", "bytes=1-" + "9" * 200, "b\u017fytes=1-2", "bytes=1-2,3-4", "bytes=5-1"],
)  # fmt: skip
async def test_a_range_that_is_not_one_plain_range_is_ignored(start, value):
    _, port = await start(limits())
    answer = await exchange(port, get(segment_path(OTHER), f"Range: {value}"))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), (value, answer[:200])
    assert b"\r\nContent-Range:" not in answer.partition(b"\r\n\r\n")[0]
    assert answer.endswith(DATA)


async def test_a_plain_range_is_served_and_one_past_the_end_is_416(start):
    _, port = await start(limits())
    answer = await exchange(port, get(segment_path(OTHER), "Range: bytes=10-20"))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206")
    assert f"Content-Range: bytes 10-20/{len(DATA)}".encode() in head
    assert body == DATA[10:21]
    answer = await exchange(port, get(segment_path(OTHER), f"Range: bytes={len(DATA)}-"))
    assert answer.startswith(b"HTTP/1.1 416")
    assert b'"code":"range_not_satisfiable"' in answer
