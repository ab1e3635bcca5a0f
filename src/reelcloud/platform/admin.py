"""Admin routes: anything an operator calls to change how a running process behaves
(resilience settings, an out-of-window fill, FIT rules to come) takes the admin credential.

Reads (metrics, health, the resilience settings in force) stay open on the service ports; only
the handlers wrapped in `admin_only` are guarded. No credential, a malformed one or the admin
user with a wrong password is 401 with `WWW-Authenticate` (a bad credential); a credential of
another user (a service's, say) is 403: whatever its password, it is not the admin. A process
started without an admin password refuses every admin change.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from reelcloud.platform.credentials import ADMIN_USER, is_admin, parse_basic_authorization

REALM = 'Basic realm="reelcloud"'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The admin password of the app's process; routes read it from here so the guard needs no
# settings of its own.
ADMIN_PASSWORD = web.AppKey("admin_password", str)


def _refusal(status: int, code: str, message: str) -> web.Response:
    response = web.json_response({"error": {"code": code, "message": message}}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = REALM
    return response


def admin_refusal(admin_password: str, header: str | None) -> web.Response | None:
    """The reply refusing a caller with this `Authorization` header, or None for the admin."""
    if is_admin(admin_password, header):
        return None
    credentials = parse_basic_authorization(header)
    if credentials is None or credentials[0] == ADMIN_USER:
        return _refusal(401, "unauthenticated", "this route needs the admin credential")
    return _refusal(403, "forbidden", "this credential may not change this process")


def admin_only(handler: Handler) -> Handler:
    """A handler that runs only for the admin (the password in the app's `ADMIN_PASSWORD`)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        refusal = admin_refusal(
            request.app.get(ADMIN_PASSWORD, ""), request.headers.get("Authorization")
        )
        return refusal if refusal is not None else await handler(request)

    return guarded
