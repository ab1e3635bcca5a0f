"""The OCA's segment server over real sockets: signatures, ranges, protocol edges."""

import asyncio
import hashlib
import os
import time

import aiohttp
import pytest
import pytest_asyncio
from tests.support.openconnect import KEYS, start_oca
from tests.support.waiting import wait_for

from reelcloud.platform.signed_urls import UrlSigner, client_network

pytestmark = pytest.mark.asyncio

OCA = "127.10.255.77"
CLIENT_A = "127.10.0.5"
CLIENT_B = "127.20.0.5"
DATA = os.urandom(300_000)


@pytest_asyncio.fixture
async def oca(tmp_path):
    running = await start_oca(
        tmp_path / "oca", OCA, {"t-abc": {"seg_1.m4s": DATA, "master.m3u8": b"#EXTM3U\n"}}
    )
    yield running
    running.server.close()


def session_from(address: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def test_a_signed_url_serves_the_file_with_caching_and_cors_headers(oca):
    async with session_from(CLIENT_A) as http:
        async with http.get(oca.url(CLIENT_A, "t-abc", "seg_1.m4s")) as reply:
            assert reply.status == 200
            assert await reply.read() == DATA
            assert reply.headers["Content-Length"] == str(len(DATA))
            assert reply.headers["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
            assert reply.headers["Content-Type"] == "video/iso.segment"
            assert "immutable" in reply.headers["Cache-Control"]
            assert reply.headers["Access-Control-Allow-Origin"] == "*"
            assert reply.headers["Accept-Ranges"] == "bytes"
        async with http.head(oca.url(CLIENT_A, "t-abc", "master.m3u8")) as reply:
            assert reply.status == 200
            assert reply.headers["Content-Length"] == "8"
            assert reply.headers["Content-Type"] == "application/vnd.apple.mpegurl"
            assert await reply.read() == b""
        async with http.options(oca.url(CLIENT_A, "t-abc", "seg_1.m4s")) as reply:
            assert reply.status == 204
            assert "Range" in reply.headers["Access-Control-Allow-Headers"]
    assert oca.server.stats.bytes_sent == len(DATA)


async def test_ranges_at_the_edges(oca):
    size = len(DATA)
    cases = [
        ("bytes=0-0", 206, DATA[:1], f"bytes 0-0/{size}"),
        (f"bytes={size - 1}-{size - 1}", 206, DATA[-1:], f"bytes {size - 1}-{size - 1}/{size}"),
        ("bytes=-100", 206, DATA[-100:], f"bytes {size - 100}-{size - 1}/{size}"),
        ("bytes=1000-", 206, DATA[1000:], f"bytes 1000-{size - 1}/{size}"),
        (f"bytes=100-{size + 999}", 206, DATA[100:], f"bytes 100-{size - 1}/{size}"),
        (f"bytes={size}-", 416, None, f"bytes */{size}"),
        ("bytes=0-1,5-9", 200, DATA, None),  # several ranges: the whole file
    ]
    async with session_from(CLIENT_A) as http:
        for header, status, body, content_range in cases:
            async with http.get(
                oca.url(CLIENT_A, "t-abc", "seg_1.m4s"), headers={"Range": header}
            ) as reply:
                assert reply.status == status, header
                assert reply.headers.get("Content-Range") == content_range, header
                if body is not None:
                    assert await reply.read() == body, header
                    assert reply.headers["Content-Length"] == str(len(body))
                else:
                    assert (await reply.json())["error"]["code"] == "range_not_satisfiable"


async def test_unsigned_expired_tampered_wrong_network_and_traversal_get_no_file(oca):
    signer = UrlSigner(KEYS)
    good = oca.url(CLIENT_A, "t-abc", "seg_1.m4s")
    token = good.split("/")[4]
    kid, expires, network, signature = token.split("~")
    base = f"http://{OCA}:{oca.port}"
    expired = signer.sign("t-abc", client_network(CLIENT_A), int(time.time()) - 1)
    cases = {
        f"{base}/v/unsigned/t-abc/seg_1.m4s": (403, "forbidden"),
        f"{base}/t-abc/seg_1.m4s": (400, "bad_path"),
        f"{base}/v/{expired}/t-abc/seg_1.m4s": (403, "expired"),
        f"{base}/v/{kid}~{int(expires) + 99}~{network}~{signature}/t-abc/seg_1.m4s": (
            403,
            "forbidden",
        ),
        f"{base}/v/{kid}~{expires}~127.20.0.0_24~{signature}/t-abc/seg_1.m4s": (403, "forbidden"),
        f"{base}/v/{token}/t-other/seg_1.m4s": (403, "forbidden"),  # another title
        f"{base}/v/{token}/t-abc/../../../etc/passwd": (400, "bad_path"),
        f"{base}/v/{token}/t-abc/..%2f..%2fetc%2fpasswd": (400, "bad_path"),
        f"{base}/v/{token}/t-abc/.hidden": (400, "bad_path"),
        f"{base}/v/{token}/t-abc/missing.m4s": (404, "not_found"),
        f"{base}/v/{token}/t-abc/seg_1.m4s/": (400, "bad_path"),
    }
    async with session_from(CLIENT_A) as http:
        for url, (status, code) in cases.items():
            async with http.get(url) as reply:
                assert reply.status == status, url
                assert (await reply.json())["error"]["code"] == code, url
        async with http.post(good, data=b"x") as reply:
            assert reply.status == 405
    # A URL issued to ISP A, used from ISP B.
    async with session_from(CLIENT_B) as http, http.get(good) as reply:
        assert reply.status == 403
        assert (await reply.json())["error"]["code"] == "wrong_network"
    assert oca.server.stats.bytes_sent == 0


async def raw_exchange(port: int, payload: bytes, read_until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection(OCA, port, local_addr=(CLIENT_A, 0))
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(-1) if read_until_close else reader.read(65536), 5)
    writer.close()
    return data


async def test_pipelined_requests_are_answered_in_order_and_garbage_is_refused(oca):
    path_big = oca.url(CLIENT_A, "t-abc", "seg_1.m4s").split(str(oca.port), 1)[1]
    path_small = oca.url(CLIENT_A, "t-abc", "master.m3u8").split(str(oca.port), 1)[1]
    pipelined = (
        f"GET {path_big} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET {path_small} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = await raw_exchange(oca.port, pipelined)
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200")
    assert rest[: len(DATA)] == DATA
    assert rest[len(DATA) :].startswith(b"HTTP/1.1 200")
    assert rest.endswith(b"#EXTM3U\n")

    assert (await raw_exchange(oca.port, b"NONSENSE\r\n\r\n")).startswith(b"HTTP/1.1 400")
    huge = b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    assert (await raw_exchange(oca.port, huge)).startswith(b"HTTP/1.1 431")
    long_url = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n"
    assert (await raw_exchange(oca.port, long_url)).startswith(b"HTTP/1.1 400")
    # The server is still there for everyone else.
    async with (
        session_from(CLIENT_A) as http,
        http.get(oca.url(CLIENT_A, "t-abc", "master.m3u8")) as reply,
    ):
        assert reply.status == 200


async def test_a_client_that_disconnects_mid_file_leaves_the_server_serving(oca):
    path = oca.url(CLIENT_A, "t-abc", "seg_1.m4s").split(str(oca.port), 1)[1]
    for _ in range(20):
        reader, writer = await asyncio.open_connection(OCA, oca.port, local_addr=(CLIENT_A, 0))
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await reader.read(1000)
        writer.transport.abort()
    await wait_for(
        lambda: oca.server.active_connections == 0,
        what=lambda: (
            f"the server lets go of every aborted connection ({oca.server.active_connections} left)"
        ),
    )
    async with (
        session_from(CLIENT_A) as http,
        http.get(oca.url(CLIENT_A, "t-abc", "seg_1.m4s")) as reply,
    ):
        assert await reply.read() == DATA
