from __future__ import annotations

import itertools
import os
import re

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter

_VALID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdFilter(InboundFilter):
    """Every request gets an id; one set by a trusted caller (a proxy in front) is kept."""

    order = 10
    name = "request_id"

    def __init__(self, trusted_proxies: frozenset[str]) -> None:
        self._trusted = trusted_proxies
        # Unique without a uuid4 per request: a random prefix per process, then a counter.
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)

    def apply(self, ctx: RequestContext) -> None:
        given = ctx.request.header(b"x-request-id")
        if given and ctx.request.peer in self._trusted and _VALID.match(given):
            ctx.request_id = given.decode()
        else:
            ctx.request_id = f"{self._prefix}{next(self._counter):016x}"
