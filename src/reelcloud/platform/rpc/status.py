"""gRPC status codes and the platform's errors, translated at the boundary in both directions."""

from __future__ import annotations

import re

import grpc

from reelcloud.platform.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    ReelcloudError,
    UnauthenticatedError,
    UnavailableError,
)
from reelcloud.platform.rpc.context import ERROR_CODE_KEY

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class DeadlineExceededError(UnavailableError):
    """The call's deadline passed before the callee answered."""

    status = 504
    code = "deadline_exceeded"


class RemoteError(ReelcloudError):
    """The callee failed in a way the caller cannot do anything about (INTERNAL, UNKNOWN…)."""

    status = 502
    code = "remote_error"


_FROM_STATUS: dict[grpc.StatusCode, type[ReelcloudError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: BadRequestError,
    grpc.StatusCode.FAILED_PRECONDITION: BadRequestError,
    grpc.StatusCode.OUT_OF_RANGE: BadRequestError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.PERMISSION_DENIED: ForbiddenError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.ALREADY_EXISTS: ConflictError,
    grpc.StatusCode.ABORTED: ConflictError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: UnavailableError,
    grpc.StatusCode.CANCELLED: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


# The callee's own words are passed on for request errors (they are the platform's messages,
# meant for the client: "no such title"); for the others they may be the transport's, naming
# addresses ("failed to connect to all addresses; ipv4:127.0.0.1:…"), so a plain one is said.
_CALLEE_SPEAKS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.ABORTED,
    }
)


def from_grpc(error: grpc.aio.AioRpcError, target: str) -> ReelcloudError:
    """The platform error for a failed call to `target` ("service/Method@instance"): the
    client is shown what the callee said of its request, or that the service failed; the
    target and the status stay in `str()` for the logs."""
    code = error.code()
    details = error.details() or ""
    service = target.split("/", 1)[0]
    if code in _CALLEE_SPEAKS and details:
        message = details
    elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"{service} did not answer in time"
    elif code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    ):
        message = f"{service} is unavailable"
    else:
        message = f"{service} failed"
    cls = _FROM_STATUS.get(code, RemoteError)
    internal = f"{target}: {code.name}: {details}".rstrip(": ")
    return cls(message, code=_error_code(error) if code in _CALLEE_SPEAKS else None,
               internal=internal)  # fmt: skip


def _error_code(error: grpc.aio.AioRpcError) -> str | None:
    """The callee's clear code (`ERROR_CODE_KEY`), if it sent a sane one."""
    for key, value in error.trailing_metadata() or ():
        if key == ERROR_CODE_KEY and isinstance(value, str) and _CODE.match(value):
            return value
    return None


def to_grpc(error: ReelcloudError) -> grpc.StatusCode:
    if isinstance(error, DeadlineExceededError):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(error, NotFoundError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(error, ForbiddenError):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, UnauthenticatedError):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(error, ConflictError):
        return grpc.StatusCode.ALREADY_EXISTS
    if isinstance(error, PayloadTooLargeError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, BadRequestError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, UnavailableError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL
