"""Every response is classified, as Zuul's ZuulStatusCategory does: the category names why a
request ended the way it did, and is counted in /metrics and written in the access log."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    # Members are str: use them as strings directly (`.value` is a slow property lookup on the
    # per-request path).

    SUCCESS = "SUCCESS"  # proxied, origin answered < 400 (or < 500 for client errors below)
    SUCCESS_NOT_FOUND = "SUCCESS_NOT_FOUND"  # origin answered 404
    SUCCESS_LOCAL = "SUCCESS_LOCAL"  # answered here: static files, health
    FAILURE_LOCAL = "FAILURE_LOCAL"  # a bug here
    FAILURE_LOCAL_NO_ROUTE = "FAILURE_LOCAL_NO_ROUTE"
    FAILURE_LOCAL_THROTTLED_ORIGIN_CONCURRENCY = "FAILURE_LOCAL_THROTTLED_ORIGIN_CONCURRENCY"
    FAILURE_LOCAL_THROTTLED_RATE = "FAILURE_LOCAL_THROTTLED_RATE"
    FAILURE_LOCAL_LOAD_SHED = "FAILURE_LOCAL_LOAD_SHED"
    FAILURE_LOCAL_INJECTED = "FAILURE_LOCAL_INJECTED"  # a failure asked for by X-Reelcloud-Fault
    FAILURE_CLIENT_BAD_REQUEST = "FAILURE_CLIENT_BAD_REQUEST"
    FAILURE_CLIENT_UNAUTHORIZED = "FAILURE_CLIENT_UNAUTHORIZED"
    FAILURE_CLIENT_HEADER_FIELDS_TOO_LARGE = "FAILURE_CLIENT_HEADER_FIELDS_TOO_LARGE"
    FAILURE_CLIENT_PAYLOAD_TOO_LARGE = "FAILURE_CLIENT_PAYLOAD_TOO_LARGE"
    FAILURE_CLIENT_METHOD_NOT_ALLOWED = "FAILURE_CLIENT_METHOD_NOT_ALLOWED"
    FAILURE_CLIENT_ORIGIN_ERROR = "FAILURE_CLIENT_ORIGIN_ERROR"  # origin answered another 4xx
    FAILURE_ORIGIN = "FAILURE_ORIGIN"  # origin answered 5xx
    FAILURE_ORIGIN_THROTTLED = "FAILURE_ORIGIN_THROTTLED"  # origin answered 503
    FAILURE_ORIGIN_READ_TIMEOUT = "FAILURE_ORIGIN_READ_TIMEOUT"
    FAILURE_ORIGIN_CONNECTIVITY = "FAILURE_ORIGIN_CONNECTIVITY"
    FAILURE_ORIGIN_RESET_CONNECTION = "FAILURE_ORIGIN_RESET_CONNECTION"
    FAILURE_ORIGIN_NO_SERVERS = "FAILURE_ORIGIN_NO_SERVERS"


def outcome_of_origin_status(status: int) -> Outcome:
    if status == 404:
        return Outcome.SUCCESS_NOT_FOUND
    if status == 503:
        return Outcome.FAILURE_ORIGIN_THROTTLED
    if status >= 500:
        return Outcome.FAILURE_ORIGIN
    if status >= 400:
        return Outcome.FAILURE_CLIENT_ORIGIN_ERROR
    return Outcome.SUCCESS
