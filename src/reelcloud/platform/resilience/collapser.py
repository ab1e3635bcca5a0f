"""Request collapsing: calls for single keys within a short window become one batch call.

Hystrix's HystrixCollapser with GLOBAL scope: every caller in this process shares the window
(10 ms by default). The batch runs as a command when a runner is given, so it has a timeout,
a breaker and fallbacks like any other dependency call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.resilience.events import CommandEvent
from reelcloud.platform.resilience.runner import CommandRunner

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
BatchCall = Callable[[list[K]], Awaitable[Mapping[K, V]]]


class Collapser(Generic[K, V]):
    def __init__(
        self,
        name: str,
        batch: BatchCall[K, V],
        *,
        window_ms: float = 10.0,
        max_batch: int = 1000,
        runner: CommandRunner | None = None,
        group: str | None = None,
    ) -> None:
        self.name = name
        self._batch = batch
        self._window_s = window_ms / 1000
        self._max_batch = max_batch
        self._runner = runner
        self._group = group
        self._pending: list[tuple[K, asyncio.Future[V]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.requests_batched = 0

    async def load(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._window_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        keys = list(dict.fromkeys(key for key, _ in batch))
        self.batches += 1
        self.requests_batched += len(batch)
        try:
            if self._runner is not None:
                self._runner.record(self.name, CommandEvent.COLLAPSED, len(batch))
                results = await self._runner.execute(
                    self.name, lambda: self._batch(keys), group=self._group
                )
            else:
                results = await self._batch(keys)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for key, future in batch:
            if future.done():
                continue
            if key in results:
                future.set_result(results[key])
            else:
                future.set_exception(NotFoundError(f"{self.name}: no result for {key!r}"))
