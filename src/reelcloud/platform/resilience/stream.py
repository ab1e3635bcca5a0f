"""`/hystrix.stream`: the Hystrix dashboard's server-sent events, every 500 ms.

Each command is one `data: {"type": "HystrixCommand", ...}` object with the field names of
Hystrix's SerialHystrixDashboardData, each bulkhead one `HystrixThreadPool` object; with no
commands yet, a `ping:` line keeps the connection alive. More than 5 concurrent listeners get
a 503, as in Hystrix.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from reelcloud.platform.resilience.breaker import error_percentage, health_counts
from reelcloud.platform.resilience.bulkhead import Bulkhead
from reelcloud.platform.resilience.events import CommandEvent as E
from reelcloud.platform.resilience.runner import CommandMetrics, CommandRunner

INTERVAL_S = 0.5
MAX_LISTENERS = 5

_ROLLING = {
    "rollingCountBadRequests": E.BAD_REQUEST,
    "rollingCountCollapsedRequests": E.COLLAPSED,
    "rollingCountExceptionsThrown": E.EXCEPTION_THROWN,
    "rollingCountFailure": E.FAILURE,
    "rollingCountFallbackFailure": E.FALLBACK_FAILURE,
    "rollingCountFallbackMissing": E.FALLBACK_MISSING,
    "rollingCountFallbackSuccess": E.FALLBACK_SUCCESS,
    "rollingCountResponsesFromCache": E.RESPONSE_FROM_CACHE,
    "rollingCountSemaphoreRejected": E.BULKHEAD_REJECTED,
    "rollingCountShortCircuited": E.SHORT_CIRCUITED,
    "rollingCountSuccess": E.SUCCESS,
    "rollingCountTimeout": E.TIMEOUT,
}


def command_data(runner: CommandRunner, metrics: CommandMetrics) -> dict[str, Any]:
    config = runner.config.command(metrics.name)
    totals = metrics.counter.totals()
    total, errors = health_counts(metrics.counter)
    breaker = runner.breaker(metrics.name)
    execute = metrics.execute_latency.snapshot()
    overall = metrics.total_latency.snapshot()
    data: dict[str, Any] = {
        "type": "HystrixCommand",
        "name": metrics.name,
        "group": metrics.group,
        "currentTime": int(time.time() * 1000),
        "isCircuitBreakerOpen": bool(breaker and breaker.is_open()),
        "errorPercentage": error_percentage(total, errors),
        "errorCount": errors,
        "requestCount": total,
        **{key: totals[event] for key, event in _ROLLING.items()},
        "rollingCountEmit": 0,
        "rollingCountFallbackEmit": 0,
        "rollingCountFallbackRejection": 0,
        "rollingCountThreadPoolRejected": 0,
        "currentConcurrentExecutionCount": metrics.concurrent,
        "rollingMaxConcurrentExecutionCount": metrics.max_concurrent,
        "latencyExecute_mean": round(execute.pop("mean")),
        "latencyExecute": {k: round(v) for k, v in execute.items()},
        "latencyTotal_mean": round(overall.pop("mean")),
        "latencyTotal": {k: round(v) for k, v in overall.items()},
        "propertyValue_circuitBreakerRequestVolumeThreshold": config.request_volume_threshold,
        "propertyValue_circuitBreakerSleepWindowInMilliseconds": config.sleep_window_ms,
        "propertyValue_circuitBreakerErrorThresholdPercentage": config.error_threshold_percent,
        "propertyValue_circuitBreakerForceOpen": config.force_open,
        "propertyValue_circuitBreakerForceClosed": config.force_closed,
        "propertyValue_circuitBreakerEnabled": config.circuit_breaker_enabled,
        "propertyValue_executionIsolationStrategy": "SEMAPHORE",
        "propertyValue_executionIsolationThreadTimeoutInMilliseconds": config.timeout_ms,
        "propertyValue_executionTimeoutInMilliseconds": config.timeout_ms,
        "propertyValue_executionIsolationThreadInterruptOnTimeout": False,
        "propertyValue_executionIsolationThreadPoolKeyOverride": None,
        "propertyValue_executionIsolationSemaphoreMaxConcurrentRequests": runner.config.group(
            metrics.group
        ).max_concurrent,
        "propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests": 10,
        "propertyValue_metricsRollingStatisticalWindowInMilliseconds": config.rolling_window_ms,
        "propertyValue_requestCacheEnabled": config.request_cache_enabled,
        "propertyValue_requestLogEnabled": False,
        "reportingHosts": 1,
        "threadPool": metrics.group,
    }
    return data


def thread_pool_data(bulkhead: Bulkhead, rolling_window_ms: int) -> dict[str, Any]:
    config = bulkhead.config
    return {
        "type": "HystrixThreadPool",
        "name": bulkhead.name,
        "currentTime": int(time.time() * 1000),
        "currentActiveCount": bulkhead.pool_busy + bulkhead.in_flight,
        "currentCompletedTaskCount": bulkhead.threads_executed,
        "currentCorePoolSize": config.thread_pool_size,
        "currentLargestPoolSize": config.thread_pool_size,
        "currentMaximumPoolSize": config.thread_pool_size,
        "currentPoolSize": config.thread_pool_size,
        "currentQueueSize": max(0, bulkhead.pool_busy - config.thread_pool_size),
        "currentTaskCount": bulkhead.threads_executed + bulkhead.pool_busy,
        "rollingCountThreadsExecuted": bulkhead.threads_executed,
        "rollingMaxActiveThreads": bulkhead.max_in_flight,
        "rollingCountCommandRejections": bulkhead.rejections,
        "propertyValue_queueSizeRejectionThreshold": config.queue_size,
        "propertyValue_metricsRollingStatisticalWindowInMilliseconds": rolling_window_ms,
        "reportingHosts": 1,
    }


def stream_events(runner: CommandRunner) -> list[dict[str, Any]]:
    events = [command_data(runner, m) for m in list(runner.metrics.values())]
    window = runner.config.command("").rolling_window_ms
    events += [thread_pool_data(b, window) for b in list(runner.bulkheads.values())]
    return events


class HystrixStream:
    def __init__(self, runner: CommandRunner, interval_s: float = INTERVAL_S) -> None:
        self.runner = runner
        self.interval_s = interval_s
        self.listeners = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.listeners >= MAX_LISTENERS:
            raise web.HTTPServiceUnavailable(reason="too many hystrix.stream listeners")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream;charset=UTF-8",
                "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
                "Pragma": "no-cache",
            }
        )
        await response.prepare(request)
        self.listeners += 1
        try:
            while True:
                events = stream_events(self.runner)
                if events:
                    payload = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
                else:
                    payload = b"ping: \n\n"
                await response.write(payload)
                await asyncio.sleep(self.interval_s)
        except ConnectionResetError:
            pass  # the listener went away
        finally:
            self.listeners -= 1
        return response
