import asyncio

import pytest
from tests.support.commands import ok

from reelcloud.platform.errors import BulkheadRejectedError
from reelcloud.platform.resilience import CommandEvent, CommandRunner, ResilienceConfig

pytestmark = pytest.mark.asyncio


async def test_bulkhead_rejects_beyond_the_group_limit(clock):
    commands = CommandRunner(ResilienceConfig(), clock=clock)
    commands.config.set_group("catalog", max_concurrent=2)
    gate = asyncio.Event()

    async def held():
        await gate.wait()
        return "done"

    first = asyncio.create_task(commands.execute("a", held, group="catalog"))
    second = asyncio.create_task(commands.execute("b", held, group="catalog"))
    await asyncio.sleep(0)
    assert await commands.execute("c", held, group="catalog", fallbacks=[lambda: "shed"]) == "shed"
    assert commands.metrics["c"].cumulative[CommandEvent.BULKHEAD_REJECTED] == 1
    assert commands.metrics["c"].cumulative[CommandEvent.FALLBACK_SUCCESS] == 1
    with pytest.raises(BulkheadRejectedError):
        await commands.execute("c", held, group="catalog")
    gate.set()
    assert await asyncio.gather(first, second) == ["done", "done"]
    assert await commands.execute("c", ok, group="catalog") == "ok"  # slots were released


async def test_blocking_calls_run_on_a_bounded_pool(clock):
    import threading

    commands = CommandRunner(ResilienceConfig(), clock=clock)
    commands.config.set_group("disk", thread_pool_size=1, queue_size=0)
    gate = threading.Event()
    first = asyncio.create_task(commands.execute_blocking("read", gate.wait, group="disk"))
    await asyncio.sleep(0.01)
    with pytest.raises(BulkheadRejectedError):
        await commands.execute_blocking("read", lambda: 1, group="disk")
    gate.set()
    assert await first is True
    assert await commands.execute_blocking("read", lambda: 7, group="disk") == 7
    commands.close()
