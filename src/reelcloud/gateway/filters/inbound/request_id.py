from __future__ import annotations

import re
import uuid

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter

_VALID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdFilter(InboundFilter):
    """Every request gets an id; one set by a trusted caller (a proxy in front) is kept."""

    order = 10
    name = "request_id"

    def __init__(self, trusted_proxies: frozenset[str]) -> None:
        self._trusted = trusted_proxies

    async def apply(self, ctx: RequestContext) -> None:
        given = ctx.request.header(b"x-request-id")
        if given and ctx.request.peer in self._trusted and _VALID.match(given):
            ctx.request_id = given.decode()
        else:
            ctx.request_id = uuid.uuid4().hex
