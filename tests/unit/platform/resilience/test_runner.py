import asyncio

import pytest
from tests.support.commands import counts, fail, runner

from reelcloud.platform.errors import BadRequestError, CommandFailedError, CommandTimeoutError
from reelcloud.platform.resilience import (
    CircuitState,
    CommandEvent,
)
from reelcloud.platform.resilience.breaker import health_counts

pytestmark = pytest.mark.asyncio


async def test_timeout_goes_to_fallback(clock):
    commands = runner(clock, timeout_ms=20)

    async def hang():
        await asyncio.sleep(10)

    assert await commands.execute("dep", hang, fallbacks=[lambda: "cached"]) == "cached"
    with pytest.raises(CommandTimeoutError, match="20 ms"):
        await commands.execute("dep", hang)
    assert counts(commands)[CommandEvent.TIMEOUT] == 2
    assert counts(commands)[CommandEvent.FALLBACK_MISSING] == 1


async def test_a_timeout_error_raised_by_the_call_is_a_failure_not_a_timeout(clock):
    commands = runner(clock)

    async def raises_timeout():
        raise TimeoutError("the callee's own timeout")

    with pytest.raises(CommandFailedError):
        await commands.execute("dep", raises_timeout)
    assert counts(commands)[CommandEvent.FAILURE] == 1
    assert counts(commands)[CommandEvent.TIMEOUT] == 0


async def test_fallback_chain_is_tried_in_order(clock):
    commands = runner(clock)
    tried = []

    def stale():
        tried.append("stale")
        raise KeyError("no stale copy")

    async def default():
        tried.append("default")
        return "default title"

    assert await commands.execute("dep", fail, fallbacks=[stale, default]) == "default title"
    assert tried == ["stale", "default"]
    with pytest.raises(CommandFailedError) as caught:
        await commands.execute("dep", fail, fallbacks=[stale, stale])
    assert isinstance(caught.value.__cause__, KeyError)
    assert counts(commands)[CommandEvent.FALLBACK_FAILURE] == 1


async def test_bad_requests_skip_fallbacks_and_do_not_count_as_errors(clock):
    commands = runner(clock)

    async def bad():
        raise BadRequestError("no such title format")

    for _ in range(30):
        with pytest.raises(BadRequestError):
            await commands.execute("dep", bad, fallbacks=[lambda: "never"])
    assert commands.breaker("dep").state is CircuitState.CLOSED
    assert health_counts(commands.metrics["dep"].counter) == (0, 0)
    assert counts(commands)[CommandEvent.BAD_REQUEST] == 30
