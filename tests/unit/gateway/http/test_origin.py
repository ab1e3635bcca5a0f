"""The read timeout of an origin connection: one timer per connection, re-armed lazily."""

import asyncio

import pytest

from reelcloud.gateway.http.origin import OriginReadTimeout, _OriginConnection

pytestmark = pytest.mark.asyncio

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
REQUEST = b"GET / HTTP/1.1\r\n\r\n"


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def connection() -> tuple[_OriginConnection, FakeTransport]:
    conn = _OriginConnection(asyncio.get_running_loop(), 1024)
    transport = FakeTransport()
    conn.connection_made(transport)
    return conn, transport


async def test_a_silent_origin_times_out_and_the_connection_is_closed():
    conn, transport = connection()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(OriginReadTimeout):
        await conn.send(REQUEST, b"", head_request=False, timeout_s=0.05)
    assert loop.time() - started >= 0.05 - 0.01  # not before it was due (slowness only adds)
    assert transport.closed
    assert not conn.alive


async def test_an_idle_connection_outlives_the_timer_of_its_last_request():
    conn, _ = connection()
    for _ in range(3):
        future = conn.send(REQUEST, b"", head_request=False, timeout_s=0.05)
        conn.data_received(ANSWER)
        assert (await future).body == b"ok"
    await asyncio.sleep(0.1)  # the timer fires with nothing in flight: no harm done
    assert conn.alive


async def test_a_shorter_timeout_is_not_held_back_by_a_timer_armed_for_later():
    conn, transport = connection()
    future = conn.send(REQUEST, b"", head_request=False, timeout_s=30)
    conn.data_received(ANSWER)
    await future
    # Held back, it would wait for the 30 s timer: the 10 s deadline fails the test first.
    with pytest.raises(OriginReadTimeout):
        async with asyncio.timeout(10):
            await conn.send(REQUEST, b"", head_request=False, timeout_s=0.05)
    assert len(transport.sent) == 2
