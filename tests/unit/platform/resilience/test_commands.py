import asyncio

import pytest

from reelcloud.platform.errors import (
    BadRequestError,
    BulkheadRejectedError,
    CommandFailedError,
    CommandTimeoutError,
    NotFoundError,
    ShortCircuitedError,
)
from reelcloud.platform.resilience import (
    CircuitState,
    Collapser,
    CommandEvent,
    CommandRunner,
    ResilienceConfig,
    request_scope,
)
from reelcloud.platform.resilience.breaker import health_counts

pytestmark = pytest.mark.asyncio


class Boom(Exception):
    pass


async def fail():
    raise Boom("down")


async def ok(value="ok"):
    return value


def runner(clock, **command):
    config = ResilienceConfig()
    if command:
        config.set_command("dep", **command)
    return CommandRunner(config, clock=clock)


def counts(commands, name="dep"):
    return commands.metrics[name].cumulative


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


async def test_config_changes_apply_at_run_time_and_are_validated(clock):
    commands = runner(clock)
    commands.config.set_command("dep", timeout_ms=10)

    async def slow():
        await asyncio.sleep(1)

    with pytest.raises(CommandTimeoutError):
        await commands.execute("dep", slow)
    with pytest.raises(BadRequestError, match="unknown"):
        commands.config.set_command("dep", timeout_seconds=1)
    with pytest.raises(BadRequestError, match="int"):
        commands.config.set_command("dep", timeout_ms="fast")
    with pytest.raises(BadRequestError):
        commands.config.set_command("dep", error_threshold_percent=150)
