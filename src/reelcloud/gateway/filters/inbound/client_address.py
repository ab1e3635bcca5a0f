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
        forwarded = ctx.request.header(b"x-forwarded-for")
        if forwarded and address in self._trusted:
            for hop in reversed(forwarded.decode("latin-1").split(",")):
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
