"""Supervision: a task that raises or ends is logged with its traceback and started again.

`Supervised(name, body)` runs `body(supervised)` for as long as it is open. Whenever the body
raises, returns or is cancelled from outside, the failure is logged (traceback included) and
counted, the task is down (`problem()` says why, for `/readyz`), and the body starts again
after a backoff: 0.1 s first, doubling, at most 4 s, so a consumer is back within 5 s of any
failure however many came before; a run that lasted `healthy_after_s` starts the backoff over.
The body calls `ready()` once it does its work (a consumer: once subscribed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from reelcloud.platform.clock import Clock, SystemClock
from reelcloud.platform.events.metrics import EventMetrics

log = logging.getLogger(__name__)

FIRST_RETRY_S = 0.1
MAX_RETRY_S = 4.0  # with a start-up of well under 1 s: back within 5 s of any failure
HEALTHY_AFTER_S = 30.0
CLOSE_TIMEOUT_S = 10.0

Body = Callable[["Supervised"], Coroutine[Any, Any, None]]
Sleep = Callable[[float], Awaitable[None]]


class RestartBackoff:
    """How long to wait before the next start, given how long the last run lasted."""

    def __init__(
        self,
        first_s: float = FIRST_RETRY_S,
        max_s: float = MAX_RETRY_S,
        healthy_after_s: float = HEALTHY_AFTER_S,
    ) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.healthy_after_s = healthy_after_s
        self._next_s = first_s

    def delay(self, ran_s: float) -> float:
        if ran_s >= self.healthy_after_s:
            self._next_s = self.first_s  # it had recovered: this is a new failure
        delay = self._next_s
        self._next_s = min(self._next_s * 2, self.max_s)
        return delay


class Supervised:
    def __init__(
        self,
        name: str,
        body: Body,
        *,
        label: str | None = None,
        metrics: EventMetrics | None = None,
        backoff: RestartBackoff | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self.label = label or name  # the `consumer` label of its metrics
        self._body = body
        self.metrics = metrics if metrics is not None else EventMetrics()
        self._backoff = backoff or RestartBackoff()
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._ready = False
        self._not_ready = "starting"
        self.restarts = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._current: asyncio.Task[None] | None = None
        self.metrics.consumer_up.labels(self.label).set(0)

    # ---- what the body says ----------------------------------------------------------------------

    def ready(self) -> None:
        """The body does its work now."""
        if not self._ready and self.restarts:
            log.info("%s is up again (%d restarts so far)", self.name, self.restarts)
        self._ready = True
        self.metrics.consumer_up.labels(self.label).set(1)

    def not_ready(self, why: str) -> None:
        """The body runs but cannot do its work for now (its connection is down, say)."""
        self._ready = False
        self._not_ready = why
        self.metrics.consumer_up.labels(self.label).set(0)

    # ---- what others ask -------------------------------------------------------------------------

    def is_up(self) -> bool:
        return self._ready

    def problem(self) -> str | None:
        """None while up, else why not (for `/readyz`)."""
        return None if self._ready else f"{self.name} is down: {self._not_ready}"

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"supervisor {self.name}")

    async def aclose(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Cancel the body and wait for it to end, at most `timeout_s`: Python 3.11's
        `asyncio.wait_for` can swallow a cancellation that lands as its inner wait completes
        (nats-py's fetch waits in one), leaving the body waiting on; a process shutting down
        must not wait with it."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            log.warning("%s did not stop within %.0f s of its cancel; left behind", self.name,
                        timeout_s)  # fmt: skip
            return
        with contextlib.suppress(asyncio.CancelledError):
            task.result()

    def kill(self) -> bool:
        """Cancel the running body, as a crash would end it (for tests and drills): it is
        started again like after any failure. False when no body runs."""
        if self._current is None or self._current.done():
            return False
        self._current.cancel()
        return True

    async def _supervise(self) -> None:
        while True:
            started = self._clock.monotonic()
            self._current = asyncio.create_task(self._body(self), name=self.name)
            try:
                await asyncio.wait({self._current})
            except asyncio.CancelledError:  # closing: stop the body with the supervisor
                self._current.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._current
                raise
            delay = self._backoff.delay(self._clock.monotonic() - started)
            self._down(self._current, delay)
            await self._sleep(delay)

    def _down(self, ended: asyncio.Task[None], delay: float) -> None:
        self._ready = False
        self.restarts += 1
        self.metrics.consumer_up.labels(self.label).set(0)
        self.metrics.consumer_restarts.labels(self.label).inc()
        if ended.cancelled():
            self.last_error = "cancelled"
            log.error("%s was cancelled; restarting in %.1f s", self.name, delay)
        elif (exc := ended.exception()) is not None:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error(
                "%s failed (%s); restarting in %.1f s", self.name, self.last_error, delay,
                exc_info=exc,
            )  # fmt: skip
        else:
            self.last_error = "it ended"
            log.error("%s ended; restarting in %.1f s", self.name, delay)
        self._not_ready = f"restarting after {self.last_error}"
