from __future__ import annotations

import ipaddress

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import InboundFilter


class ClientAddressFilter(InboundFilter):
    """The client's address: the socket's peer, or, when the peer is a trusted proxy, the
    right-most untrusted address of X-Forwarded-For (a client can forge the left part)."""

    order = 20
    name = "client_address"

    def __init__(self, trusted_proxies: frozenset[str]) -> None:
        self._trusted = trusted_proxies

    def apply(self, ctx: RequestContext) -> None:
        address = ctx.request.peer
        if address in self._trusted:
            # Every X-Forwarded-For line, in order: a proxy may append its own line (HAProxy
            # does) after one the client sent, so the first line alone may be the forged part.
            lines = [v for k, v in ctx.request.headers if k == b"x-forwarded-for"]
            hops = b",".join(lines).decode("latin-1").split(",") if lines else []
            for hop in reversed(hops):
                candidate = hop.strip()
                if not _is_ip(candidate):
                    break
                address = candidate
                if candidate not in self._trusted:
                    break
        ctx.client_address = address


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
