"""The request scope: commands with the same name and key run once per incoming request.

The service app opens a scope around each request; outside a scope there is no caching.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_scope: ContextVar[dict[tuple[str, str], asyncio.Future[Any]] | None] = ContextVar(
    "command_request_scope", default=None
)


@contextlib.contextmanager
def request_scope() -> Iterator[None]:
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def current_scope() -> dict[tuple[str, str], asyncio.Future[Any]] | None:
    return _scope.get()
