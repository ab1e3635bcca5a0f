import asyncio

import pytest
from tests.support.commands import Boom, runner

from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.resilience import Collapser, CommandEvent

pytestmark = pytest.mark.asyncio


async def test_collapser_batches_calls_within_the_window(clock):
    commands = runner(clock)
    batches = []

    async def get_titles(ids):
        batches.append(ids)
        return {i: f"title {i}" for i in ids if i != "missing"}

    collapser = Collapser("titles", get_titles, window_ms=5, runner=commands)
    results = await asyncio.gather(
        *(collapser.load(i) for i in ("a", "b", "a", "c")), return_exceptions=True
    )
    assert results == ["title a", "title b", "title a", "title c"]
    assert batches == [["a", "b", "c"]]
    assert commands.metrics["titles"].cumulative[CommandEvent.COLLAPSED] == 4
    with pytest.raises(NotFoundError):
        await collapser.load("missing")


async def test_collapser_failure_reaches_every_caller(clock):
    async def broken(ids):
        raise Boom("batch failed")

    collapser = Collapser("titles", broken, window_ms=1)
    results = await asyncio.gather(collapser.load(1), collapser.load(2), return_exceptions=True)
    assert all(isinstance(r, Boom) for r in results)


async def test_collapser_flushes_at_max_batch(clock):
    sizes = []

    async def batch(ids):
        sizes.append(len(ids))
        return {i: i for i in ids}

    collapser = Collapser("n", batch, window_ms=10_000, max_batch=3)
    assert await asyncio.gather(*(collapser.load(i) for i in range(3))) == [0, 1, 2]
    assert sizes == [3]
