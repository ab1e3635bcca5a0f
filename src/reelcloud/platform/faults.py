"""Failure injection (FIT): `X-Reelcloud-Fault` asks named services to misbehave for one
request, e.g. `catalog.delay_ms=2000` or `accounts.abort=503`, and travels with the request
from the gateway through HTTP and gRPC hops. Honoured only by processes started with
`REELCLOUD_FAULT_INJECTION=true`; elsewhere the header is carried and ignored."""

from __future__ import annotations

import asyncio

from reelcloud.platform.errors import ReelcloudError, UnavailableError
from reelcloud.platform.validation import ascii_int

HEADER = "X-Reelcloud-Fault"
MAX_DELAY_MS = 30_000


class InjectedError(ReelcloudError):
    code = "injected"


def parse(header: str) -> dict[str, str]:
    """`svc.key=value,svc2.key=value` → {"svc.key": "value", …} (malformed parts ignored)."""
    faults = {}
    for part in header[:512].split(","):
        key, equals, value = part.strip().partition("=")
        if equals and "." in key:
            faults[key] = value
    return faults


async def inject(service: str, header: str | None) -> None:
    """Apply what the header asks of `service`: a delay, then possibly a failure."""
    if not header:
        return
    faults = parse(header)
    # ASCII digits only: str.isdigit() takes "²", which int() then refuses (a 500).
    delay = ascii_int(faults.get(f"{service}.delay_ms", ""))
    if delay is not None:
        await asyncio.sleep(min(delay, MAX_DELAY_MS) / 1000)
    status = ascii_int(faults.get(f"{service}.abort", ""), max_digits=3)
    if status is not None and 400 <= status <= 599:
        if status == 503:
            raise UnavailableError(f"failure injected: {service}.abort=503", code="injected")
        error = InjectedError(f"failure injected: {service}.abort={status}")
        error.status = status
        raise error
