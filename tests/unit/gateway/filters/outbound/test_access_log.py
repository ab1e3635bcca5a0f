import asyncio
import io

import orjson

from reelcloud.gateway.context import Attempt, RequestContext
from reelcloud.gateway.filters.outbound.access_log import AccessLogFilter
from reelcloud.gateway.http.messages import Request, Response
from reelcloud.gateway.outcome import Outcome


def context(path: str) -> RequestContext:
    request = Request("GET", path.encode(), path, b"", [], b"", "1.1", "127.0.0.1", True)
    ctx = RequestContext(request)
    ctx.response = Response(504)
    ctx.request_id = "0123abcd"
    ctx.client_address = "127.10.0.7"
    ctx.route = "/api/play"
    ctx.origin = "play-api"
    ctx.outcome = Outcome.FAILURE_ORIGIN_READ_TIMEOUT
    ctx.error = 'read "timeout"'
    ctx.attempts.append(Attempt("host:play-api:1", None, "read_timeout", 600.0))
    return ctx


def test_each_request_is_one_valid_json_line_even_with_a_hostile_path():
    stream = io.BytesIO()
    log = AccessLogFilter("gateway", "host:gateway:1", stream)

    async def write() -> None:
        log.apply(context('/api/play/"}\n{"forged": true'))
        log.apply(context("/api/play/ok"))
        log.flush()

    asyncio.run(write())
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first = orjson.loads(lines[0])
    assert first["msg"] == 'GET /api/play/"}\n{"forged": true 504 FAILURE_ORIGIN_READ_TIMEOUT'
    assert "forged" not in first
    assert first["status"] == 504
    assert first["outcome"] == "FAILURE_ORIGIN_READ_TIMEOUT"
    assert first["attempts"] == ["host:play-api:1:read_timeout"]
    assert first["error"] == 'read "timeout"'
    assert first["service"] == "gateway"
    assert first["ts"].endswith("Z")
    assert isinstance(first["duration_ms"], float)
    assert 0 <= first["duration_ms"] < 60_000
    assert orjson.loads(lines[1])["msg"].startswith("GET /api/play/ok")


def plain_context() -> RequestContext:
    request = Request("GET", b"/", "/", b"", [], b"", "1.1", "127.0.0.1", True)
    ctx = RequestContext(request)
    ctx.response = Response(200)
    ctx.request_id = "r-1"
    ctx.client_address = "127.0.0.1"
    ctx.route = "/"
    ctx.outcome = Outcome.SUCCESS_LOCAL
    return ctx


def test_lines_are_written_in_batches_and_close_writes_what_is_pending():
    stream = io.BytesIO()
    log = AccessLogFilter("gateway", "host:gateway:1", stream)

    async def write() -> None:
        log.apply(plain_context())
        log.apply(plain_context())
        assert stream.getvalue() == b""  # nothing per request: the batch is written later
        log.close()

    asyncio.run(write())
    assert len(stream.getvalue().splitlines()) == 2


def test_a_request_without_attempts_or_error_logs_neither():
    stream = io.BytesIO()
    log = AccessLogFilter("gateway", "host:gateway:1", stream)

    async def write() -> None:
        log.apply(plain_context())
        log.flush()

    asyncio.run(write())
    line = orjson.loads(stream.getvalue())
    assert "attempts" not in line
    assert "error" not in line
    assert line["origin"] == ""
    assert line["status"] == 200


def test_a_closed_log_stream_does_not_fail_requests():
    stream = io.BytesIO()
    log = AccessLogFilter("gateway", "host:gateway:1", stream)
    stream.close()

    async def write() -> None:
        log.apply(plain_context())
        log.flush()  # the write fails; the request it logged must not

    asyncio.run(write())
