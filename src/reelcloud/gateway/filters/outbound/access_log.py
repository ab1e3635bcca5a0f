from __future__ import annotations

import asyncio
import sys
import time
from typing import BinaryIO

import orjson

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter

FLUSH_INTERVAL_S = 0.1


class AccessLogFilter(OutboundFilter):
    """One JSON line per request: who asked what, what answered, how it ended, how long it took.

    Same fields as the platform's structured logs, but written straight to the stream in
    batches every 100 ms, and formatted from a bytes template: going through `logging` cost a
    fifth of the gateway's CPU, and a dict + orjson per request still ~7 µs. Only what a client
    controls (the path) and free text are JSON-escaped; request ids and addresses are checked
    formats already, routes and origins come from configuration (escaped once, cached).
    """

    order = 100
    name = "access_log"

    def __init__(self, service: str, instance_id: str, stream: BinaryIO | None = None) -> None:
        self._prefix = (
            b'","level":"INFO","logger":"reelcloud.gateway.access","service":%s,"instance":%s'
            % (
                orjson.dumps(service),
                orjson.dumps(instance_id),
            )
        )
        self._stream = stream or sys.stderr.buffer
        self._lines: list[bytes] = []
        self._flush_scheduled = False
        self._second = -1
        self._second_text = b""
        self._escaped: dict[str, bytes] = {}

    def _json(self, text: str) -> bytes:
        escaped = self._escaped.get(text)
        if escaped is None:
            escaped = orjson.dumps(text)
            if len(self._escaped) < 4096:  # routes, origins, instance:status: few values
                self._escaped[text] = escaped
        return escaped

    def apply(self, ctx: RequestContext) -> None:
        status = ctx.response.status if ctx.response is not None else 500
        now = time.time()
        second = int(now)
        if second != self._second:  # formatting the date is the costly part: once a second
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)).encode()
        request = ctx.request
        message = orjson.dumps(f"{request.method} {request.path[:200]} {status} {ctx.outcome}")
        extra = b""
        attempts = ctx.attempts
        if attempts:
            # instance:status pairs repeat (a few instances, a few statuses): cached escaped
            if len(attempts) == 1:
                attempt = attempts[0]
                extra = b',"attempts":[%s]' % self._json(
                    f"{attempt.instance}:{attempt.status or attempt.error}"
                )
            else:
                extra = b',"attempts":[%s]' % b",".join(
                    [self._json(f"{a.instance}:{a.status or a.error}") for a in attempts]
                )
        if ctx.error:
            extra += b',"error":' + orjson.dumps(ctx.error)
        elapsed_us = int(ctx.passport.elapsed_s() * 1_000_000)
        self._lines.append(
            b'{"ts":"%s.%03dZ%s,"msg":%s,"request_id":"%s","client":"%s","route":%s,"origin":%s,'
            b'"status":%d,"outcome":"%s","duration_ms":%d.%03d%s}\n'
            % (
                self._second_text,
                int((now - second) * 1000),
                self._prefix,
                message,
                ctx.request_id.encode(),
                ctx.client_address.encode(),
                self._json(ctx.route),
                self._json(ctx.origin),
                status,
                ctx.outcome.encode(),
                elapsed_us // 1000,  # milliseconds with 3 decimals, without float formatting
                elapsed_us % 1000,
                extra,
            )
        )
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._lines:
            lines, self._lines = self._lines, []
            try:
                self._stream.write(b"".join(lines))  # each line ends with its newline
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed log stream must not take requests down

    def close(self) -> None:
        self.flush()
