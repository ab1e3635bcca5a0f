"""Running calls as commands: request cache → circuit breaker → bulkhead → timeout → fallbacks.

The order is Hystrix's (How-it-Works, steps 3 to 8). Every outcome is recorded as a
`CommandEvent`; short-circuits, rejections, timeouts and failures go to the fallback chain,
bad requests (the caller's fault) go straight back to the caller and count for nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.errors import (
    BulkheadRejectedError,
    CommandError,
    CommandFailedError,
    CommandTimeoutError,
    RequestError,
    ShortCircuitedError,
)
from reelcloud.platform.resilience.breaker import BreakerRegistry, CircuitBreaker
from reelcloud.platform.resilience.bulkhead import Bulkhead
from reelcloud.platform.resilience.config import CommandConfig, ResilienceConfig
from reelcloud.platform.resilience.events import CommandEvent
from reelcloud.platform.resilience.request_context import current_scope
from reelcloud.platform.resilience.rolling import RollingCounter, RollingPercentile

T = TypeVar("T")
Fallback = Callable[[], Awaitable[T] | T]


@dataclass
class CommandMetrics:
    name: str
    group: str
    counter: RollingCounter
    execute_latency: RollingPercentile
    total_latency: RollingPercentile
    concurrent: int = 0
    max_concurrent: int = 0
    cumulative: Counter[CommandEvent] = field(default_factory=Counter)

    def record(self, event: CommandEvent, count: int = 1) -> None:
        self.counter.add(event, count)
        self.cumulative[event] += count


class CommandRunner:
    def __init__(
        self,
        config: ResilienceConfig | None = None,
        *,
        clock: Clock | None = None,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        self.config = config or ResilienceConfig()
        self.clock = clock or SystemClock()
        self.breakers = breakers or BreakerRegistry()
        self.metrics: dict[str, CommandMetrics] = {}
        self.bulkheads: dict[str, Bulkhead] = {}

    # ---- public ---------------------------------------------------------------------------

    async def execute(
        self,
        name: str,
        run: Callable[[], Awaitable[T]],
        *,
        group: str | None = None,
        fallbacks: Sequence[Fallback[T]] = (),
        cache_key: str | None = None,
    ) -> T:
        """Run an async call as command `name` (bulkhead: the group's concurrency limit)."""
        return await self._cached(name, group or name, run, None, fallbacks, cache_key)

    async def execute_blocking(
        self,
        name: str,
        fn: Callable[[], T],
        *,
        group: str | None = None,
        fallbacks: Sequence[Fallback[T]] = (),
        cache_key: str | None = None,
    ) -> T:
        """Run a blocking call on the group's bounded thread pool, as command `name`."""
        return await self._cached(name, group or name, None, fn, fallbacks, cache_key)

    def breaker(self, name: str) -> CircuitBreaker | None:
        return self.breakers.get(name)

    def record(self, name: str, event: CommandEvent, count: int = 1) -> None:
        """Record an event that happened outside `execute` (collapsing, for one)."""
        self._metrics(name, name).record(event, count)

    def close(self) -> None:
        for bulkhead in self.bulkheads.values():
            bulkhead.close()

    # ---- internals --------------------------------------------------------------------------

    def _metrics(self, name: str, group: str) -> CommandMetrics:
        metrics = self.metrics.get(name)
        if metrics is None:
            config = self.config.command(name)
            metrics = self.metrics[name] = CommandMetrics(
                name=name,
                group=group,
                counter=RollingCounter(
                    self.clock, config.rolling_window_ms, config.rolling_buckets
                ),
                execute_latency=RollingPercentile(
                    self.clock,
                    config.percentile_window_ms,
                    config.percentile_buckets,
                    config.percentile_bucket_size,
                ),
                total_latency=RollingPercentile(
                    self.clock,
                    config.percentile_window_ms,
                    config.percentile_buckets,
                    config.percentile_bucket_size,
                ),
            )
        return metrics

    def _bulkhead(self, group: str) -> Bulkhead:
        bulkhead = self.bulkheads.get(group)
        if bulkhead is None:
            bulkhead = self.bulkheads[group] = Bulkhead(group, self.config.group(group))
        bulkhead.config = self.config.group(group)  # run-time changes apply to the next call
        return bulkhead

    async def _cached(
        self,
        name: str,
        group: str,
        run: Callable[[], Awaitable[T]] | None,
        fn: Callable[[], T] | None,
        fallbacks: Sequence[Fallback[T]],
        cache_key: str | None,
    ) -> T:
        config = self.config.command(name)
        scope = current_scope() if cache_key is not None and config.request_cache_enabled else None
        if scope is None or cache_key is None:
            return await self._run(name, group, config, run, fn, fallbacks)
        key = (name, cache_key)
        cached = scope.get(key)
        if cached is not None:
            self._metrics(name, group).record(CommandEvent.RESPONSE_FROM_CACHE)
            result: T = await asyncio.shield(cached)
            return result
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        scope[key] = future
        try:
            result = await self._run(name, group, config, run, fn, fallbacks)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" noise if unused
            raise
        future.set_result(result)
        return result

    async def _run(
        self,
        name: str,
        group: str,
        config: CommandConfig,
        run: Callable[[], Awaitable[T]] | None,
        fn: Callable[[], T] | None,
        fallbacks: Sequence[Fallback[T]],
    ) -> T:
        started = time.perf_counter()
        metrics = self._metrics(name, group)
        breaker = self.breakers.get_or_create(name, self.clock, metrics.counter)
        try:
            if not breaker.allow_request(config):
                metrics.record(CommandEvent.SHORT_CIRCUITED)
                return await self._fallback(
                    metrics, config, fallbacks, ShortCircuitedError(name, "circuit is open")
                )
            bulkhead = self._bulkhead(group)
            call: Awaitable[T] | None
            if fn is not None:
                call = bulkhead.submit(fn)
            else:
                call = None if not bulkhead.try_acquire() else _lazy(run)
            if call is None:
                metrics.record(CommandEvent.BULKHEAD_REJECTED)
                breaker.mark_failure(config)
                return await self._fallback(
                    metrics,
                    config,
                    fallbacks,
                    BulkheadRejectedError(name, f"group {group} is full"),
                )
            return await self._call(metrics, breaker, bulkhead, config, call, fallbacks, fn is None)
        finally:
            metrics.total_latency.add((time.perf_counter() - started) * 1000)

    async def _call(
        self,
        metrics: CommandMetrics,
        breaker: CircuitBreaker,
        bulkhead: Bulkhead,
        config: CommandConfig,
        call: Awaitable[T],
        fallbacks: Sequence[Fallback[T]],
        holds_semaphore: bool,
    ) -> T:
        name = metrics.name
        metrics.concurrent += 1
        metrics.max_concurrent = max(metrics.max_concurrent, metrics.concurrent)
        started = time.perf_counter()
        deadline = asyncio.timeout(config.timeout_ms / 1000 if config.timeout_enabled else None)
        try:
            async with deadline:
                result = await call
        except TimeoutError as exc:
            if not deadline.expired():
                return await self._failed(metrics, breaker, config, fallbacks, exc)
            metrics.record(CommandEvent.TIMEOUT)
            breaker.mark_failure(config)
            error = CommandTimeoutError(name, f"no answer within {config.timeout_ms} ms")
            return await self._fallback(metrics, config, fallbacks, error)
        except RequestError:
            metrics.record(CommandEvent.BAD_REQUEST)
            breaker.mark_success()  # the dependency answered; the request was wrong
            raise
        except Exception as exc:
            return await self._failed(metrics, breaker, config, fallbacks, exc)
        finally:
            metrics.concurrent -= 1
            metrics.execute_latency.add((time.perf_counter() - started) * 1000)
            if holds_semaphore:
                bulkhead.release()
        metrics.record(CommandEvent.SUCCESS)
        breaker.mark_success()
        return result

    async def _failed(
        self,
        metrics: CommandMetrics,
        breaker: CircuitBreaker,
        config: CommandConfig,
        fallbacks: Sequence[Fallback[T]],
        exc: BaseException,
    ) -> T:
        metrics.record(CommandEvent.FAILURE)
        breaker.mark_failure(config)
        error = CommandFailedError(metrics.name, f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return await self._fallback(metrics, config, fallbacks, error)

    async def _fallback(
        self,
        metrics: CommandMetrics,
        config: CommandConfig,
        fallbacks: Sequence[Fallback[T]],
        error: CommandError,
    ) -> T:
        """Try each fallback in order; the first that works answers for the command."""
        if not config.fallback_enabled or not fallbacks:
            metrics.record(CommandEvent.FALLBACK_MISSING)
            metrics.record(CommandEvent.EXCEPTION_THROWN)
            raise error
        last: BaseException | None = None
        for fallback in fallbacks:
            try:
                value = fallback()
                if inspect.isawaitable(value):
                    value = await value
            except Exception as exc:
                last = exc
                continue
            metrics.record(CommandEvent.FALLBACK_SUCCESS)
            return value
        metrics.record(CommandEvent.FALLBACK_FAILURE)
        metrics.record(CommandEvent.EXCEPTION_THROWN)
        raise error from last


async def _lazy(run: Callable[[], Awaitable[T]] | None) -> T:
    """Create the call's coroutine only once the bulkhead has admitted it."""
    assert run is not None
    return await run()
