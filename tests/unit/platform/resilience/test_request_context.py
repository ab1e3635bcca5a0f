import asyncio

import pytest
from tests.support.commands import counts, fail, runner

from reelcloud.platform.errors import CommandFailedError
from reelcloud.platform.resilience import (
    CommandEvent,
    request_scope,
)

pytestmark = pytest.mark.asyncio


async def test_request_cache_runs_a_key_once_per_request(clock):
    commands = runner(clock)
    calls = []

    async def load():
        calls.append(1)
        await asyncio.sleep(0)
        return {"title": "Dune"}

    with request_scope():
        first, second = await asyncio.gather(
            commands.execute("dep", load, cache_key="t1"),
            commands.execute("dep", load, cache_key="t1"),
        )
        third = await commands.execute("dep", load, cache_key="t1")
        await commands.execute("dep", load, cache_key="t2")
    assert first == second == third == {"title": "Dune"}
    assert len(calls) == 2
    assert counts(commands)[CommandEvent.RESPONSE_FROM_CACHE] == 2
    with request_scope():  # a new request starts empty
        await commands.execute("dep", load, cache_key="t1")
    await commands.execute("dep", load, cache_key="t1")  # outside any request: no cache
    assert len(calls) == 4


async def test_request_cache_shares_failures_too(clock):
    commands = runner(clock)
    with request_scope():
        for _ in range(2):
            with pytest.raises(CommandFailedError):
                await commands.execute("dep", fail, cache_key="k")
    assert counts(commands)[CommandEvent.FAILURE] == 1
