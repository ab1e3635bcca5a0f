"""What can happen to a command execution: Hystrix's HystrixEventType vocabulary."""

from __future__ import annotations

from enum import StrEnum


class CommandEvent(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    TIMEOUT = "TIMEOUT"
    SHORT_CIRCUITED = "SHORT_CIRCUITED"
    # Hystrix splits rejections by isolation (SEMAPHORE_ / THREAD_POOL_REJECTED); a bulkhead
    # here is one concept with two mechanisms, so it has one event.
    BULKHEAD_REJECTED = "BULKHEAD_REJECTED"
    BAD_REQUEST = "BAD_REQUEST"
    FALLBACK_SUCCESS = "FALLBACK_SUCCESS"
    FALLBACK_FAILURE = "FALLBACK_FAILURE"
    FALLBACK_MISSING = "FALLBACK_MISSING"
    EXCEPTION_THROWN = "EXCEPTION_THROWN"
    RESPONSE_FROM_CACHE = "RESPONSE_FROM_CACHE"
    COLLAPSED = "COLLAPSED"


# Events that count toward the breaker's error percentage (HealthCounts in Hystrix).
HEALTH_EVENTS = (
    CommandEvent.SUCCESS,
    CommandEvent.FAILURE,
    CommandEvent.TIMEOUT,
    CommandEvent.BULKHEAD_REJECTED,
)
