"""The OCA's segment server fed anything a client can send: request bytes in any chunking,
paths, tokens and Range headers. It answers every request with a well-formed reply that is
never a 5xx, and a reply is a file only for a genuine URL."""

import asyncio
import os
import re
import socket
import tempfile
import time
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from reelcloud.openconnect.server import SegmentServer, ServerLimits, _Connection
from reelcloud.openconnect.store import ContentStore
from reelcloud.platform.signed_urls import UrlSigner, client_network
from tests.fuzz.strategies import FUZZ, hostile_text, number_like
from tests.support.openconnect import KEYS, stock

CLIENT = "127.10.0.5"
DATA = os.urandom(1000)
STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) [A-Za-z ]+\r\n")
ANSWERS = {200, 204, 206, 400, 403, 404, 405, 408, 416, 429, 431}

_root = Path(tempfile.mkdtemp(prefix="reelcloud-fuzz-oca-"))
_store = ContentStore(_root, 10**9)
stock(_store, "t-abc", {"seg_1.m4s": DATA})
SERVER = SegmentServer(_store, UrlSigner(KEYS), limits=ServerLimits(max_url_bytes=512))
TOKEN = UrlSigner(KEYS).sign("t-abc", client_network(CLIENT), int(time.time()) + 3600)
GOOD_PATH = f"/v/{TOKEN}/t-abc/seg_1.m4s"

paths = st.one_of(
    st.just(GOOD_PATH),
    hostile_text.map(lambda t: "/" + t),
    st.builds(
        lambda token, title, name: f"/v/{token}/{title}/{name}",
        st.one_of(st.just(TOKEN), hostile_text),
        st.one_of(st.just("t-abc"), hostile_text),
        st.one_of(st.just("seg_1.m4s"), hostile_text, st.just("..%2f..%2fetc%2fpasswd")),
    ),
)
ranges = st.one_of(
    st.none(),
    hostile_text,
    st.builds(lambda a, b: f"bytes={a}-{b}", number_like | st.just(""), number_like | st.just("")),
)


def status_of(head: bytes) -> int:
    match = STATUS_LINE.match(head)
    assert match, head[:200]
    return int(match.group(1))


@FUZZ
@given(
    st.sampled_from([b"GET", b"HEAD", b"POST", b"OPTIONS", b"DELETE", b"BREW"]),
    paths,
    ranges,
)
@example(b"GET", GOOD_PATH, "bytes=1_0-2_0")  # int() read it as 10-20
@example(b"GET", GOOD_PATH, "bytes=-+5")
@example(b"GET", GOOD_PATH, "bytes=" + "9" * 5000 + "-")
@example(b"GET", "/v/" + TOKEN + "\ud800/t-abc/seg_1.m4s", None)
def test_every_reply_is_well_formed_and_only_a_genuine_url_gets_the_file(method, path, range_):
    target = path.encode("utf-8", "surrogatepass")
    reply = SERVER.respond(method, target, range_, CLIENT, True)
    head, _, body = reply.head.partition(b"\r\n\r\n")
    status = status_of(reply.head)
    assert status in ANSWERS
    if reply.file is not None:
        assert path == GOOD_PATH
        assert method == b"GET"
        assert 0 <= reply.offset < len(DATA)
        assert reply.offset + reply.remaining <= len(DATA)
        reply.file.release()
    elif status >= 400:
        assert body.startswith(b'{"error":{"code":'), reply.head
    if status == 206:
        assert re.search(rb"\r\nContent-Range: bytes \d+-\d+/1000\r\n", head), head


def heads(host_path: str) -> st.SearchStrategy[bytes]:
    """Request heads, mostly well-formed enough to reach the server's own checks."""
    line = st.builds(
        lambda method, target, version: method + b" " + target + b" " + version + b"\r\n",
        st.sampled_from([b"GET", b"HEAD", b"POST", b"G\x00T", b""]),
        st.one_of(st.just(host_path.encode()), st.binary(max_size=40)),
        st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/1.1 x"]),
    )
    header = st.builds(
        lambda name, value: name + b": " + value + b"\r\n",
        st.sampled_from([b"Host", b"Range", b"Content-Length", b"Transfer-Encoding",
                         b"Connection", b"X", b"Bad Name", b""]),
        st.one_of(st.sampled_from([b"bytes=0-9", b"chunked", b"close", b"5", b"-1", b"1_0"]),
                  st.binary(max_size=30)),
    )  # fmt: skip
    return st.builds(
        lambda first, rest, end, tail: first + b"".join(rest) + end + tail,
        line,
        st.lists(header, max_size=6),
        st.sampled_from([b"\r\n", b"", b"\n"]),
        st.binary(max_size=20),
    )


def exchange(data: bytes, chunk: int) -> bytes:
    """Feed `data` to a real connection over a socket pair, `chunk` bytes at a time, and read
    everything the server says until it closes."""
    loop = asyncio.new_event_loop()
    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        connection = _Connection(SERVER, loop, ours, CLIENT)
        SERVER._connections.add(connection)
        SERVER._per_client[CLIENT] = SERVER._per_client.get(CLIENT, 0) + 1
        SERVER.stats.connections += 1
        try:
            for at in range(0, len(data), chunk):
                theirs.sendall(data[at : at + chunk])
                loop.run_until_complete(asyncio.sleep(0))
            theirs.shutdown(socket.SHUT_WR)  # end of input: the server finishes and closes
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed first (Connection: close, a refusal): read what it said
        theirs.setblocking(False)
        received = bytearray()
        deadline = time.monotonic() + 30  # a safety net: a server that never closes fails
        while time.monotonic() < deadline:
            loop.run_until_complete(asyncio.sleep(0))
            if connection.lingering:
                connection.close()  # its linger ends at a sweep: end it now
            try:
                piece = theirs.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return bytes(received)
            if not piece:
                return bytes(received)
            received += piece
        raise AssertionError(f"the server never closed the connection after {data[:100]!r}")
    finally:
        theirs.close()
        if not connection.closed:
            connection.close()
        loop.close()


@FUZZ
@given(st.one_of(heads(GOOD_PATH), st.binary(max_size=300)), st.integers(1, 64))
@example(b"GET / HTTP/1.1\r\nRange: bytes=1_0-2_0\r\n\r\n", 1)
@example(b"GET " + GOOD_PATH.encode() + b" HTTP/1.1\r\nRange: bytes=+1-2\r\n\r\n", 3)
@example(b"GET /" + b"a" * 600 + b" HTTP/1.1\r\n\r\n", 64)  # over the URL limit
def test_any_bytes_get_well_formed_replies_and_never_a_5xx(data, chunk):
    said = exchange(data, chunk)
    if said:
        assert said.startswith(b"HTTP/1.1 "), said[:200]
    for found in re.finditer(rb"HTTP/1\.1 (\d{3}) ", said):
        assert int(found.group(1)) in ANSWERS, said[found.start() : found.start() + 200]


def test_the_exchange_sees_what_a_client_would():
    said = exchange(f"GET {GOOD_PATH} HTTP/1.1\r\nRange: bytes=0-9\r\n\r\n".encode(), 7)
    assert said.startswith(b"HTTP/1.1 206 Partial Content\r\n")
    assert said.endswith(DATA[:10])
