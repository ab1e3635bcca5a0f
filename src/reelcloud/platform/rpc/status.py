"""gRPC status codes and the platform's errors, translated at the boundary in both directions."""

from __future__ import annotations

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


def from_grpc(error: grpc.aio.AioRpcError, target: str) -> ReelcloudError:
    cls = _FROM_STATUS.get(error.code(), RemoteError)
    return cls(f"{target}: {error.code().name}: {error.details() or ''}".rstrip(": "))


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
