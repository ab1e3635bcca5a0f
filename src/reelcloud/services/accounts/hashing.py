"""Password hashing off the event loop: argon2id on a small pool of threads, with a bounded wait.

argon2-cffi releases the GIL while it hashes (cffi drops it around every C call; checked here:
a pure-Python loop on the main thread kept its pace beside a thread hashing without pause), so
threads are enough and no process pool is needed. What starved GetMember under a burst of
sign-ins was CPU, not the GIL: the default executor's six threads hashed on two cores and the
event loop's thread competed with them as an equal. So the pool is small (`hash_workers`, one
core fewer than the machine by default), its threads run some nice steps below the loop's
thread (Linux schedules threads by their own nice value), and when more hashes wait than the
pool finishes within `max_wait_s`, a new one is refused with BusyError instead of queued
without end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from reelcloud.services.accounts.models import BusyError

log = logging.getLogger(__name__)

T = TypeVar("T")

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~25-50 ms a sign-in here.
# The library default (RFC 9106's 64 MiB, 3 passes, 4 lanes) took ~0.85 s of both cores per
# sign-in on this 2-core machine: a few dozen members signing in at once queued for seconds.
# Hashes carry their parameters, so older ones still verify.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# How fast an estimate of the hash time follows the measured ones.
_SMOOTHING = 0.2


def _lower_thread_priority(steps: int) -> None:
    """Runs in each pool thread as it starts: on Linux a thread has its own nice value, so
    this lowers the hashing threads only, never the loop's."""
    if steps <= 0:
        return
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + steps))
    except OSError as exc:  # not permitted here: hash at the loop's priority
        log.warning("hashing threads keep the loop's priority: %s", exc)


class HashPool:
    """Runs blocking calls on `workers` threads; refuses a call that would wait longer than
    `max_wait_s` for one, estimated from how long recent calls took."""

    def __init__(
        self,
        *,
        workers: int,
        max_wait_s: float,
        thread_nice: int = 0,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.workers = workers
        self.max_wait_s = max_wait_s
        self.estimate_s: float | None = None  # how long one call takes, smoothed
        self.in_pool = 0  # calls accepted and not finished: running or waiting for a thread
        self._timer = timer
        self._executor = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="argon2",
            initializer=_lower_thread_priority,
            initargs=(thread_nice,),
        )

    def expected_wait_s(self) -> float:
        """How long a call accepted now would wait for a thread (0 before any was measured)."""
        ahead = self.in_pool - self.workers + 1  # calls that must finish before it starts
        return max(0, ahead) * (self.estimate_s or 0.0) / self.workers

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        wait_s = self.expected_wait_s()
        if wait_s > self.max_wait_s:
            raise BusyError(
                f"too many sign-ins at once: {self.in_pool} passwords are being checked",
                retry_after_s=wait_s,
            )
        self.in_pool += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, _timed, self._timer, fn, args
        )
        future.add_done_callback(self._finished)
        # Shielded: a caller that goes away does not free the thread, so the call is counted
        # in the pool until the thread is really done with it.
        _, result, error = await asyncio.shield(future)
        if error is not None:
            raise error
        return cast(T, result)

    def _finished(self, future: asyncio.Future[tuple[float, Any, Exception | None]]) -> None:
        self.in_pool -= 1
        if future.cancelled() or future.exception() is not None:
            return
        elapsed_s = future.result()[0]
        previous = self.estimate_s
        self.estimate_s = (
            elapsed_s if previous is None else previous + _SMOOTHING * (elapsed_s - previous)
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _timed(
    timer: Callable[[], float], fn: Callable[..., T], args: tuple[object, ...]
) -> tuple[float, T | None, Exception | None]:
    """On the pool's thread: the call's outcome and how long it ran (not how long it waited)."""
    started = timer()
    try:
        result = fn(*args)
    except Exception as exc:  # raised again on the loop, by run()
        return timer() - started, None, exc
    return timer() - started, result, None


class Passwords:
    """argon2id hashes and checks, on a HashPool."""

    def __init__(self, pool: HashPool, hasher: PasswordHasher = HASHER) -> None:
        self.pool = pool
        self.hasher = hasher
        self._dummy_hash = ""

    async def start(self) -> None:
        """Hash a password no member has: checked when an email is unknown, so both failures
        take the same time. It also gives the pool its first measure of a hash."""
        self._dummy_hash = await self.pool.run(self.hasher.hash, "reelcloud-no-such-member")

    async def hash(self, password: str) -> str:
        return await self.pool.run(self.hasher.hash, password)

    async def matches(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` is the one `stored_hash` was made from; None (no such member)
        costs the same and never matches."""
        try:
            await self.pool.run(self.hasher.verify, stored_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored_hash is not None
