import asyncio
import os
import threading

import pytest
from argon2 import PasswordHasher
from tests.support.waiting import wait_for

from reelcloud.services.accounts.hashing import HashPool, Passwords
from reelcloud.services.accounts.models import BusyError

pytestmark = pytest.mark.asyncio

# Cheap parameters: these tests are about the pool, not about argon2's cost.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Gate:
    """A blocking call that returns only once the test opens the gate."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, value: str) -> str:
        self.entered.release()
        assert self.opened.wait(10), "the test never opened the gate"
        return value


async def test_a_call_that_would_wait_longer_than_allowed_is_refused_with_a_retry_time():
    pool = HashPool(workers=1, max_wait_s=1.0)
    pool.estimate_s = 0.5  # as if hashes had been measured at half a second
    gate = Gate()
    running = asyncio.create_task(pool.run(gate, "first"))
    await wait_for(lambda: pool.in_pool == 1, what="the first call entering the pool")
    waiting = [asyncio.create_task(pool.run(gate, name)) for name in ("second", "third")]
    await wait_for(lambda: pool.in_pool == 3, what="two calls waiting")
    # A fourth would wait for three half-second calls on one thread: 1.5 s > 1 s.
    assert pool.expected_wait_s() == 1.5
    with pytest.raises(BusyError) as refused:
        await pool.run(gate, "fourth")
    assert (refused.value.status, refused.value.code) == (503, "busy")
    assert refused.value.retry_after_s == 2  # whole seconds, rounded up
    assert pool.in_pool == 3  # the refused call took no place
    gate.opened.set()
    assert await asyncio.gather(running, *waiting) == ["first", "second", "third"]
    assert pool.in_pool == 0
    pool.close()


async def test_more_threads_wait_less():
    pool = HashPool(workers=4, max_wait_s=1.0)
    pool.estimate_s = 0.5
    pool.in_pool = 3
    assert pool.expected_wait_s() == 0  # a thread is free
    pool.in_pool = 9
    assert pool.expected_wait_s() == 0.75  # six ahead, four at a time
    pool.close()


async def test_the_estimate_starts_at_the_first_measure_and_follows_later_ones():
    ticks = iter([10.0, 10.4, 20.0, 21.4])  # two calls: 0.4 s, then 1.4 s
    pool = HashPool(workers=1, max_wait_s=10.0, timer=lambda: next(ticks))
    assert pool.estimate_s is None
    assert pool.expected_wait_s() == 0  # nothing measured: nothing refused
    await pool.run(str.upper, "a")
    assert pool.estimate_s == pytest.approx(0.4)
    await pool.run(str.upper, "b")
    assert pool.estimate_s == pytest.approx(0.4 + 0.2 * (1.4 - 0.4))
    pool.close()


async def test_an_error_in_the_call_reaches_the_caller_and_frees_its_place():
    pool = HashPool(workers=1, max_wait_s=1.0)
    with pytest.raises(ValueError, match="invalid literal"):
        await pool.run(int, "not a number")
    assert pool.in_pool == 0
    pool.close()


async def test_a_caller_that_goes_away_is_counted_until_its_thread_is_done():
    pool = HashPool(workers=1, max_wait_s=1.0)
    gate = Gate()
    caller = asyncio.create_task(pool.run(gate, "x"))
    await wait_for(lambda: pool.in_pool == 1, what="the call entering the pool")
    assert await asyncio.to_thread(gate.entered.acquire, timeout=5)  # the thread is in the call
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert pool.in_pool == 1  # the thread is still busy with it
    gate.opened.set()
    await wait_for(lambda: pool.in_pool == 0, what="the thread finishing the abandoned call")
    pool.close()


async def test_hashing_threads_run_below_the_event_loops_priority():
    pool = HashPool(workers=1, max_wait_s=1.0, thread_nice=5)
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread_nice = await pool.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert thread_nice == min(19, loop_nice + 5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_nice
    pool.close()


async def test_passwords_match_only_their_own_hash_and_an_unknown_member_never_matches():
    pool = HashPool(workers=1, max_wait_s=5.0)
    passwords = Passwords(pool, FAST)
    await passwords.start()
    stored = await passwords.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert await passwords.matches(stored, "correct horse")
    assert not await passwords.matches(stored, "correct horse ")
    assert not await passwords.matches("not a hash", "correct horse")
    # No such member: the dummy hash is checked (same cost), and it never matches.
    assert not await passwords.matches(None, "reelcloud-no-such-member")
    assert pool.estimate_s is not None
    assert pool.in_pool == 0
    pool.close()
