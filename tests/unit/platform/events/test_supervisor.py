"""Supervision on fakes: a body that raises, ends or is cancelled is logged and started again
after a bounded backoff, and is down (with why) until it says it is ready."""

import asyncio
import logging

import pytest

from reelcloud.platform.events import EventMetrics, RestartBackoff, Supervised
from reelcloud.platform.testing import FakeClock


def test_the_backoff_starts_well_under_a_second_and_is_capped_under_five():
    backoff = RestartBackoff()
    delays = [backoff.delay(ran_s=0.0) for _ in range(10)]
    assert delays[0] < 1
    assert delays == sorted(delays)
    assert max(delays) < 5
    assert backoff.delay(ran_s=backoff.healthy_after_s) == delays[0]  # recovered: start over


async def until(condition, what):
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.asyncio
async def test_a_body_that_fails_ends_or_is_killed_is_logged_restarted_and_down_meanwhile(caplog):
    # Each run of the body does the next step of the script; "serve" is ready, then waits.
    script = ["starting", "raise", "end", "serve", "serve"]
    running: list[asyncio.Future[None]] = []
    slept: list[float] = []

    async def sleep(seconds):  # the backoff, recorded instead of waited
        slept.append(seconds)

    async def body(supervised):
        step = script.pop(0)
        if step == "raise":
            raise ConnectionResetError("nats went away")
        if step == "end":
            return  # a body that ends is a failure too
        if step == "serve":
            supervised.ready()
        running.append(asyncio.get_running_loop().create_future())
        await running[-1]

    metrics = EventMetrics()
    supervised = Supervised("consumer x", body, label="x", metrics=metrics, sleep=sleep)
    supervised.start()
    try:
        await until(lambda: len(running) == 1, "the first run")
        assert supervised.problem() == "consumer x is down: starting"
        running[0].set_exception(ValueError("a bug"))
        await until(supervised.is_up, "up after three failures")
        assert supervised.problem() is None
        assert metrics.value("reelcloud_events_consumer_up", consumer="x") == 1
        assert supervised.kill()  # as a crash would end it
        await until(lambda: len(running) == 3, "a run after the kill")
        assert supervised.is_up()
    finally:
        await supervised.aclose()
    assert supervised.restarts == 4  # ValueError, ConnectionResetError, it ended, cancelled
    assert metrics.value("reelcloud_events_consumer_restarts_total", consumer="x") == 4
    assert slept == [0.1, 0.2, 0.4, 0.8]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage().split(";")[0] for r in failures] == [
        "consumer x failed (ValueError: a bug)",
        "consumer x failed (ConnectionResetError: nats went away)",
        "consumer x ended",
        "consumer x was cancelled",
    ]
    assert failures[0].exc_info is not None  # the traceback is in the log
    assert running[-1].cancelled()  # closing the supervisor stops its body


@pytest.mark.asyncio
async def test_a_long_healthy_run_starts_the_backoff_over():
    clock = FakeClock()
    slept: list[float] = []
    fail = asyncio.Event()

    async def sleep(seconds):
        slept.append(seconds)

    async def body(supervised):
        if len(slept) == 3:
            clock.advance(60)  # this run lasts a minute
        if len(slept) >= 4:
            await fail.wait()
        raise RuntimeError("again")

    supervised = Supervised("c", body, clock=clock, sleep=sleep)
    supervised.start()
    try:
        await until(lambda: len(slept) == 4, "four restarts")
    finally:
        await supervised.aclose()
    assert slept == [0.1, 0.2, 0.4, 0.1]


@pytest.mark.asyncio
async def test_not_ready_says_why_while_the_body_runs():
    gate = asyncio.Event()

    async def body(supervised):
        supervised.ready()
        await gate.wait()
        supervised.not_ready("disconnected from NATS")
        await asyncio.Event().wait()

    supervised = Supervised("consumer y", body)
    supervised.start()
    try:
        await until(supervised.is_up, "up")
        gate.set()
        await until(lambda: not supervised.is_up(), "down")
        assert supervised.problem() == "consumer y is down: disconnected from NATS"
        assert supervised.restarts == 0  # not a failure of the task
    finally:
        await supervised.aclose()
