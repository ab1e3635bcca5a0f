"""Waiting on conditions, never on time: poll until a condition holds, or fail saying what
never happened (and the last thing seen instead).

A deadline here is a safety net, not a measurement: a condition that holds returns at once,
so deadlines are generous (a loaded machine is slow, not wrong). Tests never sleep to let
something happen; they wait for it.

    await wait_for(lambda: catalog_lists(title), what="the catalog lists the title")
    wait_for_sync(lambda: not pid_alive(pid), what=f"pid {pid} exits", timeout_s=15)
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

# What a condition may ask to be shown when it never held: a fixed text, or one built at
# that moment (counts, the last answer).
What = str | Callable[[], str] | None


def _describe(what: What, condition: Callable[..., Any]) -> str:
    if callable(what):
        return what()
    if what:
        return what
    if getattr(condition, "__name__", "") == "<lambda>":
        try:  # its source says what was awaited, for callers that name nothing
            return inspect.getsource(condition).strip()
        except (OSError, TypeError):
            pass
    return repr(condition)  # a bound method names its object: Path.exists of '/run/x.json'


def _failure(
    what: What, condition: Callable[..., Any], timeout_s: float, last: object
) -> AssertionError:
    return AssertionError(
        f"never happened within {timeout_s:g} s: {_describe(what, condition)} (last seen: {last!r})"
    )


async def wait_for(
    condition: Callable[[], Any],
    *,
    what: What = None,
    timeout_s: float = 30.0,
    interval_s: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll `condition` (sync or async) until it returns something truthy, and return that.
    Exceptions in `ignoring` count as "not yet" (a service still starting, say)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: object = None
    while True:
        try:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last = result
        except ignoring as exc:
            last = exc
        if loop.time() > deadline:
            raise _failure(what, condition, timeout_s, last)
        await asyncio.sleep(interval_s)


def wait_for_sync(
    condition: Callable[[], Any],
    *,
    what: What = None,
    timeout_s: float = 30.0,
    interval_s: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
    pause: Callable[[float], object] = time.sleep,
) -> Any:
    """`wait_for` for code without an event loop. `pause` is how to wait between polls: a
    Playwright page must be given `page.wait_for_timeout` so that its events keep arriving."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            result = condition()
            if result:
                return result
            last = result
        except ignoring as exc:
            last = exc
        if time.monotonic() > deadline:
            raise _failure(what, condition, timeout_s, last)
        pause(interval_s)
