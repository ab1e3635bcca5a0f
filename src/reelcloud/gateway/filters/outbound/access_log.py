from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, BinaryIO

import orjson

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import OutboundFilter

FLUSH_INTERVAL_S = 0.1


class AccessLogFilter(OutboundFilter):
    """One JSON line per request: who asked what, what answered, how it ended, how long it took.

    Same fields as the platform's structured logs, but written straight to the stream in
    batches every 100 ms: going through `logging` for every request cost a fifth of the
    gateway's CPU (handler locks, LogRecord objects, formatting).
    """

    order = 100
    name = "access_log"

    def __init__(self, service: str, instance_id: str, stream: BinaryIO | None = None) -> None:
        self._static = {
            "level": "INFO",
            "logger": "reelcloud.gateway.access",
            "service": service,
            "instance": instance_id,
        }
        self._stream = stream or sys.stderr.buffer
        self._lines: list[bytes] = []
        self._flush_scheduled = False
        self._second = -1
        self._second_text = ""

    def apply(self, ctx: RequestContext) -> None:
        status = ctx.response.status if ctx.response is not None else 500
        now = time.time()
        second = int(now)
        if second != self._second:  # formatting the date is the costly part: once a second
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        entry: dict[str, Any] = {
            "ts": f"{self._second_text}.{int(now % 1 * 1000):03d}Z",
            **self._static,
            "msg": f"{ctx.request.method} {ctx.request.path[:200]} {status} {ctx.outcome}",
            "request_id": ctx.request_id,
            "client": ctx.client_address,
            "route": ctx.route,
            "origin": ctx.origin,
            "status": status,
            "outcome": ctx.outcome,
            "duration_ms": round(ctx.passport.elapsed_s() * 1000, 3),
        }
        if ctx.attempts:
            entry["attempts"] = [f"{a.instance}:{a.status or a.error}" for a in ctx.attempts]
        if ctx.error:
            entry["error"] = ctx.error
        self._lines.append(orjson.dumps(entry))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._lines:
            lines, self._lines = self._lines, []
            try:
                self._stream.write(b"\n".join(lines) + b"\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed log stream must not take requests down

    def close(self) -> None:
        self.flush()
