"""What the gateway tells the services behind it, in headers it sets itself.

The gateway strips these from client requests and writes its own (`gateway/filters/endpoint/
proxy.py`), so a service behind it may believe them: the member and session of a verified
token, the client's address, the simulated network a browser says it sits in, and a FIT fault.
"""

from __future__ import annotations

from collections.abc import Mapping

from reelcloud.platform.errors import UnauthenticatedError
from reelcloud.platform.faults import HEADER as FAULT_HEADER

MEMBER_HEADER = "X-Reelcloud-Member"
SESSION_HEADER = "X-Reelcloud-Session"
NETWORK_HEADER = "X-Reelcloud-Network"  # the simulated network a browser says it sits in
FORWARDED_FOR_HEADER = "X-Forwarded-For"
# The cookie a browser's session token rides in (set by accounts and the sign-up API, read by
# the gateway beside `Authorization: Bearer`).
SESSION_COOKIE = "session"

__all__ = [
    "FAULT_HEADER",
    "FORWARDED_FOR_HEADER",
    "MEMBER_HEADER",
    "NETWORK_HEADER",
    "SESSION_HEADER",
    "caller",
    "client_address",
]


def caller(headers: Mapping[str, str]) -> tuple[str, str]:
    """(member id, session id) of a signed-in request; 401 when the gateway named nobody. Both
    are required: a token without a session cannot be signed out, so it is not believed."""
    member_id = headers.get(MEMBER_HEADER, "")
    session_id = headers.get(SESSION_HEADER, "")
    if not member_id or not session_id:
        raise UnauthenticatedError("sign in first: this needs a session token")
    return member_id, session_id


def client_address(headers: Mapping[str, str], peer: str | None) -> str:
    """The client's address as the gateway saw it: the right-most X-Forwarded-For entry (the
    gateway appends it; anything left of it came from the client)."""
    forwarded = headers.get(FORWARDED_FOR_HEADER, "").split(",")[-1].strip()
    return forwarded or (peer or "127.0.0.1")
