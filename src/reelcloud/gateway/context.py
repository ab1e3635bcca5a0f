"""The per-request context every filter reads and writes (Zuul's SessionContext)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from reelcloud.gateway.http.messages import Request, Response
from reelcloud.gateway.outcome import Outcome


@dataclass(slots=True)
class Passport:
    """Timestamps of what happened to a request, as Zuul's CurrentPassport records them."""

    started: float = field(default_factory=time.perf_counter)
    marks: list[tuple[str, float]] = field(default_factory=list)

    def mark(self, state: str) -> None:
        self.marks.append((state, time.perf_counter()))

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def __str__(self) -> str:
        steps = ", ".join(f"+{(t - self.started) * 1e6:.0f}us={s}" for s, t in self.marks)
        return f"Passport[{steps}]"


@dataclass(slots=True)
class Attempt:
    instance: str
    status: int | None
    error: str
    duration_ms: float


@dataclass(slots=True)
class RequestContext:
    request: Request
    request_id: str = ""
    client_address: str = ""
    route: str = ""  # the route's path prefix
    endpoint: str = ""  # "proxy", "static", "health"
    origin: str = ""  # origin service name, for the proxy endpoint
    origin_path: bytes = b""  # the request target to send to the origin
    auth: str = "optional"  # what the route requires: required | optional | none
    claims: dict[str, Any] = field(default_factory=dict)  # the authenticated member
    fault: str = ""  # X-Reelcloud-Fault, when fault injection is enabled
    response: Response | None = None
    outcome: Outcome = Outcome.SUCCESS
    error: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    passport: Passport = field(default_factory=Passport)

    @property
    def stopped(self) -> bool:
        """A filter produced the response: the remaining inbound filters and the endpoint are
        skipped (outbound filters still run)."""
        return self.response is not None

    def fail(self, status: int, code: str, message: str, outcome: Outcome) -> None:
        """Answer with the platform's JSON error and name the outcome."""
        self.outcome = outcome
        self.error = message
        self.response = error_response(status, code, message, self.request_id)


def error_response(status: int, code: str, message: str, request_id: str = "") -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message, "request_id": request_id}})
    return Response(status, [(b"content-type", b"application/json")], body)
