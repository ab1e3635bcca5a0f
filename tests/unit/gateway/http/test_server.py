"""The gateway's public HTTP server against slow and greedy clients, over real loopback
sockets: header and body timeouts, the keep-alive timeout, the per-address connection cap."""

import asyncio

import orjson
import pytest
import pytest_asyncio
from tests.support.waiting import wait_for

from reelcloud.gateway.chain import rejected
from reelcloud.gateway.http.messages import Request, Response
from reelcloud.gateway.http.server import Connections, Limits, start_server
from reelcloud.gateway.settings import GatewaySettings

pytestmark = pytest.mark.asyncio

HOST = "127.0.0.1"
GREEDY = "127.0.0.66"  # one client address that opens too much
OTHER = "127.0.0.67"

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def answer(request: Request) -> Response:
    return Response(200, [(b"content-type", b"text/plain")], b"ok " + request.body)


class Running:
    def __init__(self, server: asyncio.Server, connections: Connections) -> None:
        self.server = server
        self.connections = connections
        self.port = server.sockets[0].getsockname()[1]

    async def open(self, source: str = OTHER) -> Connection:
        return await asyncio.open_connection(HOST, self.port, local_addr=(source, 0))

    async def exchange(self, request: bytes, source: str = OTHER) -> bytes:
        reader, writer = await self.open(source)
        try:
            writer.write(request)
            return await asyncio.wait_for(reader.read(-1), 10)
        finally:
            writer.close()

    async def trickling(self, count: int, source: str) -> list[Connection]:
        """`count` connections that each send part of a head and never the rest."""
        opened = []
        for _ in range(count):
            reader, writer = await self.open(source)
            writer.write(b"GET /health HTTP/1.1\r\nHost: gw\r\n")  # never the blank line
            opened.append((reader, writer))
        return opened


@pytest_asyncio.fixture
async def start():
    servers: list[asyncio.Server] = []

    async def start(**changes: object) -> Running:
        # Short timeouts and a fast sweep keep the tests quick (the defaults: 10 s, 30 s, 1 s).
        limits = Limits(**{"header_timeout_s": 0.5, "sweep_interval_s": 0.05, **changes})
        connections = Connections(limits)
        server = await start_server(
            answer, rejected, host=HOST, port=0, limits=limits, connections=connections
        )
        servers.append(server)
        return Running(server, connections)

    yield start
    for server in servers:
        server.close()


async def said_before_close(reader: asyncio.StreamReader) -> bytes:
    """What the server says before it closes (b"" when it closes without a word)."""
    try:
        return await asyncio.wait_for(reader.read(-1), 30)
    except ConnectionResetError:
        return b""


def error_of(raw: bytes) -> dict[str, str]:
    return orjson.loads(raw.partition(b"\r\n\r\n")[2])["error"]


CLOSE = b"GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
KEEP = b"GET /health HTTP/1.1\r\nHost: gw\r\n\r\n"


async def test_a_head_that_never_ends_is_answered_408_and_closed(start):
    gateway = await start()
    ((reader, writer),) = await gateway.trickling(1, OTHER)
    said = await said_before_close(reader)
    writer.close()
    assert said.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), said
    assert b"connection: close\r\n" in said
    assert error_of(said)["code"] == "request_timeout"
    assert gateway.connections.timed_out == 1


async def test_a_connection_that_sends_nothing_is_closed_without_a_word(start):
    gateway = await start()
    reader, writer = await gateway.open()
    try:
        assert await said_before_close(reader) == b""
    finally:
        writer.close()


async def test_bytes_trickled_one_at_a_time_do_not_extend_the_deadline(start):
    gateway = await start()
    reader, writer = await gateway.open()
    writer.write(b"GET /health HTTP/1.1\r\nX-Endless: ")
    said = asyncio.ensure_future(said_before_close(reader))
    try:
        # One more byte of a header that never ends, until the server gives up: if each byte
        # pushed the deadline back, this would go on until the test's own timeout.
        while not said.done():
            writer.write(b"a")
            await asyncio.sleep(0.05)  # the client's pace, not a wait for the server
    finally:
        writer.close()
    assert (await said).startswith(b"HTTP/1.1 408")


async def test_a_body_that_never_ends_is_cut_off_too(start):
    gateway = await start(body_timeout_s=0.5)
    reader, writer = await gateway.open()
    writer.write(b"POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\nonly part")
    said = await said_before_close(reader)
    writer.close()
    assert said.startswith(b"HTTP/1.1 408"), said


async def test_a_whole_body_is_answered(start):
    gateway = await start()
    said = await gateway.exchange(
        b"POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody"
    )
    assert said.startswith(b"HTTP/1.1 200")
    assert said.endswith(b"ok body")


async def test_a_keep_alive_connection_waiting_between_requests_is_not_cut(start):
    """Between requests the keep-alive timeout applies, not the header timeout."""
    gateway = await start()
    reader, writer = await gateway.open()
    try:
        writer.write(KEEP)
        assert (await reader.readuntil(b"ok ")).startswith(b"HTTP/1.1 200")
        # A witness opened after that answer: once it is cut off, a header timeout has
        # passed for the kept-alive connection too.
        ((witness, witness_writer),) = await gateway.trickling(1, OTHER)
        assert (await said_before_close(witness)).startswith(b"HTTP/1.1 408")
        witness_writer.close()
        writer.write(KEEP)
        assert (await reader.readuntil(b"ok ")).startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
    assert gateway.connections.timed_out == 1


async def test_an_idle_keep_alive_connection_is_closed(start):
    gateway = await start(keep_alive_timeout_s=0.3)
    reader, writer = await gateway.open()
    try:
        writer.write(KEEP)
        assert (await reader.readuntil(b"ok ")).startswith(b"HTTP/1.1 200")
        assert await said_before_close(reader) == b""
    finally:
        writer.close()
    assert gateway.connections.timed_out == 1


async def test_one_address_gets_at_most_its_cap_and_hears_429(start):
    gateway = await start(header_timeout_s=60, max_connections_per_client=8)
    greedy = await gateway.trickling(8, GREEDY)
    connections = gateway.connections

    def held() -> int:
        return connections.per_client.get(GREEDY, 0)

    await wait_for(lambda: held() == 8, what="8 connections accepted")
    reader, writer = await gateway.open(GREEDY)
    said = await said_before_close(reader)
    writer.close()
    assert said.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), said
    assert b"retry-after: 1\r\n" in said
    assert b"connection: close\r\n" in said
    assert error_of(said)["code"] == "too_many_connections"
    # Another address is served; so is the greedy one once it lets a connection go.
    assert (await gateway.exchange(CLOSE)).endswith(b"ok ")
    greedy[0][1].close()
    await wait_for(lambda: held() == 7, what="the server lets one go")
    assert (await gateway.exchange(CLOSE, source=GREEDY)).endswith(b"ok ")
    assert connections.refused == 1
    for _, writer in greedy:
        writer.close()


async def test_a_trusted_proxy_is_not_capped(start):
    gateway = await start(
        header_timeout_s=60, max_connections_per_client=2, uncapped_clients=frozenset({GREEDY})
    )
    proxied = await gateway.trickling(5, GREEDY)
    await wait_for(lambda: gateway.connections.per_client.get(GREEDY) == 5, what="all 5 accepted")
    assert gateway.connections.refused == 0
    for _, writer in proxied:
        writer.close()


async def test_a_thousand_trickling_connections_from_one_address_starve_no_one(start):
    gateway = await start(header_timeout_s=60)  # the default cap: 256
    greedy = await gateway.trickling(1000, GREEDY)
    connections = gateway.connections
    try:
        await wait_for(
            lambda: connections.refused == 1000 - 256,
            what=lambda: f"744 refused ({connections.refused})",
        )
        assert connections.per_client[GREEDY] == 256
        for _ in range(5):  # health checks and others, from elsewhere
            assert (await gateway.exchange(CLOSE)).endswith(b"ok ")
    finally:
        for _, writer in greedy:
            writer.close()
    await wait_for(lambda: not connections.open, what="every connection let go")


@pytest.mark.parametrize("length", ["9" * 30, "1" * 5000])
async def test_a_content_length_of_too_many_digits_is_refused_not_converted(start, length):
    gateway = await start()
    said = await gateway.exchange(
        b"POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: " + length.encode() + b"\r\n\r\n"
    )
    assert said.startswith((b"HTTP/1.1 413", b"HTTP/1.1 400")), said[:100]


async def test_the_gateway_settings_carry_the_limits():
    limits = GatewaySettings(
        header_timeout_s=5, max_connections_per_client=9, trusted_proxies=["127.0.0.9"]
    ).limits()
    assert limits.header_timeout_s == 5
    assert limits.max_connections_per_client == 9
    assert limits.uncapped_clients == {"127.0.0.9"}
    defaults = GatewaySettings().limits()
    assert defaults.header_timeout_s == 10
    assert defaults.max_connections_per_client == 256
