"""One error hierarchy for the whole platform.

    ReelcloudError                  anything the platform raises on purpose
     ├── ConfigurationError         settings or topology that cannot work
     ├── RequestError               the caller sent something wrong (4xx at the edge)
     │    ├── BadRequestError       400: malformed or missing fields
     │    ├── UnauthenticatedError  401: no valid session
     │    ├── ForbiddenError        403: not allowed (bad signature, denied play)
     │    ├── PaymentRequiredError  402: a card was declined
     │    ├── NotFoundError         404: unknown resource
     │    ├── ConflictError         409: the server holds a newer copy
     │    └── PayloadTooLargeError  413: body over the limit
     ├── UnavailableError           503: a dependency or the process cannot serve now
     │    ├── NoInstancesError      discovery knows no usable instance of a service
     │    └── CommandError          a resilience command failed and had no working fallback
     │         ├── CommandTimeoutError        the call took longer than its timeout
     │         ├── ShortCircuitedError        the circuit breaker is open
     │         ├── BulkheadRejectedError      the group's concurrency limit is reached
     │         └── CommandFailedError         the call raised
     ├── EngineError                an embedded engine (PostgreSQL, NATS) failed
     └── LauncherError              the launcher cannot do what was asked

Every error carries an HTTP status and a short machine-readable code, so the boundary
(`platform.app`) renders `{"error": {"code", "message"}}` without a table of special cases.
Lower-level errors are translated where they cross into the platform, chained with `from exc`.

`message` is what a client is shown: it names no instance, address, internal method, query or
file. What only the logs should see stays in `str(error)` (`internal`): a call's target and the
callee's words for an RPC error, the exception a failed command raised.
"""

from __future__ import annotations

from typing import Any


class ReelcloudError(Exception):
    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, *, code: str | None = None, internal: str = "") -> None:
        super().__init__(internal or message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class ConfigurationError(ReelcloudError):
    code = "configuration"


class RequestError(ReelcloudError):
    status = 400
    code = "bad_request"


class BadRequestError(RequestError):
    status = 400
    code = "bad_request"


class UnauthenticatedError(RequestError):
    status = 401
    code = "unauthenticated"


class ForbiddenError(RequestError):
    status = 403
    code = "forbidden"


class NotFoundError(RequestError):
    status = 404
    code = "not_found"


class PaymentRequiredError(RequestError):
    status = 402
    code = "payment_required"


class ConflictError(RequestError):
    status = 409
    code = "conflict"


class PayloadTooLargeError(RequestError):
    status = 413
    code = "payload_too_large"


class UnavailableError(ReelcloudError):
    status = 503
    code = "unavailable"


class NoInstancesError(UnavailableError):
    code = "no_instances"


class CommandError(UnavailableError):
    code = "dependency_failed"

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"{command}: {message}")
        self.command = command


class CommandTimeoutError(CommandError):
    code = "dependency_timeout"


class ShortCircuitedError(CommandError):
    code = "dependency_short_circuited"


class BulkheadRejectedError(CommandError):
    code = "dependency_rejected"


class CommandFailedError(CommandError):
    """The call raised: what it raised is for the logs (`str()`), not for the client."""

    code = "dependency_failed"

    def __init__(self, command: str, message: str) -> None:
        super().__init__(command, message)
        self.message = f"{command}: the call failed"


class EngineError(ReelcloudError):
    code = "engine"


class LauncherError(ReelcloudError):
    code = "launcher"
