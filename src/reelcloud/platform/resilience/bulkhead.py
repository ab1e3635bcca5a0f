"""Bulkheads: a concurrency limit per group for async calls, a bounded thread pool per group
for blocking ones. A full bulkhead rejects at once; it never queues without bound."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from reelcloud.platform.resilience.config import BulkheadConfig

T = TypeVar("T")


class Bulkhead:
    def __init__(self, name: str, config: BulkheadConfig) -> None:
        self.name = name
        self.config = config
        self.in_flight = 0
        self.max_in_flight = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._pool_busy = 0
        self._pool_lock = threading.Lock()
        self.threads_executed = 0
        self.rejections = 0

    def try_acquire(self) -> bool:
        if self.in_flight >= self.config.max_concurrent:
            self.rejections += 1
            return False
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return True

    def release(self) -> None:
        self.in_flight -= 1

    def submit(self, fn: Callable[[], T]) -> asyncio.Future[T] | None:
        """Run blocking `fn` on the group's pool, or None when workers and queue are full."""
        capacity = self.config.thread_pool_size + self.config.queue_size
        with self._pool_lock:
            if self._pool_busy >= capacity:
                self.rejections += 1
                return None
            self._pool_busy += 1
        if self._pool is None or self._pool_size != self.config.thread_pool_size:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool_size = self.config.thread_pool_size
            self._pool = ThreadPoolExecutor(
                self._pool_size, thread_name_prefix=f"bulkhead-{self.name}"
            )

        def work() -> T:
            try:
                self.threads_executed += 1
                return fn()
            finally:
                with self._pool_lock:
                    self._pool_busy -= 1

        return asyncio.get_running_loop().run_in_executor(self._pool, work)

    @property
    def pool_busy(self) -> int:
        return self._pool_busy

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
