"""A service that never gets ready: its app factory blocks the process (a deadlock, a call
that never returns), so the launcher's ready timeout and stack dump have something to find."""

from __future__ import annotations

import threading

from aiohttp import web

from reelcloud.platform.settings import Settings


def create_app(settings: Settings) -> web.Application:
    never_set = threading.Event()
    never_set.wait()  # stuck here for good
    raise AssertionError("unreachable")
