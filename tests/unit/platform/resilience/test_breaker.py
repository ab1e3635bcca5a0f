import asyncio

import pytest
from tests.support.commands import counts, fail, ok, runner

from reelcloud.platform.errors import CommandFailedError, ShortCircuitedError
from reelcloud.platform.resilience import (
    CircuitState,
    CommandEvent,
)
from reelcloud.platform.resilience.breaker import health_counts

pytestmark = pytest.mark.asyncio


async def trip(commands, n=20):
    for _ in range(n):
        with pytest.raises(CommandFailedError):
            await commands.execute("dep", fail)


async def test_opens_after_error_threshold_with_enough_volume(clock):
    commands = runner(clock)
    await trip(commands, 19)
    assert commands.breaker("dep").state is CircuitState.CLOSED  # 19 < volume threshold 20
    await trip(commands, 1)
    assert commands.breaker("dep").state is CircuitState.OPEN
    called = []
    with pytest.raises(ShortCircuitedError):
        await commands.execute("dep", lambda: called.append(1) or ok())
    assert called == []
    assert counts(commands)[CommandEvent.SHORT_CIRCUITED] == 1


async def test_stays_closed_below_the_error_percentage(clock):
    commands = runner(clock)
    for _ in range(11):
        await commands.execute("dep", ok)
    await trip(commands, 10)  # 10 of 21 = 47 %
    assert commands.breaker("dep").state is CircuitState.CLOSED


async def test_rejects_during_the_sleep_window_then_lets_exactly_one_trial_through(clock):
    commands = runner(clock)
    await trip(commands)
    clock.advance(4.9)
    with pytest.raises(ShortCircuitedError):
        await commands.execute("dep", ok)
    clock.advance(0.2)
    release = asyncio.Event()

    async def slow_trial():
        await release.wait()
        return "recovered"

    trial = asyncio.create_task(commands.execute("dep", slow_trial))
    await asyncio.sleep(0)
    assert commands.breaker("dep").state is CircuitState.HALF_OPEN
    with pytest.raises(ShortCircuitedError):  # only one trial at a time
        await commands.execute("dep", ok)
    release.set()
    assert await trial == "recovered"
    assert commands.breaker("dep").state is CircuitState.CLOSED
    assert health_counts(commands.metrics["dep"].counter) == (0, 0)  # stats reset on close
    assert await commands.execute("dep", ok) == "ok"


async def test_failed_trial_reopens_for_a_fresh_sleep_window(clock):
    commands = runner(clock)
    await trip(commands)
    clock.advance(5.1)
    with pytest.raises(CommandFailedError):
        await commands.execute("dep", fail)
    assert commands.breaker("dep").state is CircuitState.OPEN
    clock.advance(4.9)
    with pytest.raises(ShortCircuitedError):
        await commands.execute("dep", ok)
    clock.advance(0.2)
    assert await commands.execute("dep", ok) == "ok"


async def test_force_open_and_force_closed(clock):
    commands = runner(clock, force_open=True)
    with pytest.raises(ShortCircuitedError):
        await commands.execute("dep", ok)
    commands.config.set_command("dep", force_open=False, force_closed=True)
    await trip(commands, 30)
    assert await commands.execute("dep", ok) == "ok"
