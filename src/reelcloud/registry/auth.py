"""Who may call the registry: HTTP basic auth on the Eureka API, as secured Spring Cloud Eureka.

Every caller carries its service's credential (`platform.credentials`): the user is the
service's name, the password derives from the registry secret, so this server checks anyone's
password holding that one secret. The rules:

    READ    GET apps, deltas, VIPs, instances, status     any valid credential
    OWNER   register, renew, cancel, status, metadata     the instance's own service
            (the same call marked as peer replication)    PEER_USER only
    PEER    POST peerreplication/batch                    PEER_USER only

No credential, or a wrong one, is 401 with `WWW-Authenticate`; a valid credential of a caller
that may not do this is 403, and the registry is left unchanged. `/healthz`, `/readyz` and
`/metrics` are the platform's own routes and stay open.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from enum import Enum

from aiohttp import web

from reelcloud.platform.app import error_response
from reelcloud.platform.credentials import PEER_USER, registry_caller
from reelcloud.platform.errors import ConfigurationError, ForbiddenError, UnauthenticatedError

REALM = 'Basic realm="reelcloud"'
# Distinct Authorization headers remembered: one per service and peer in practice; bounded so
# a flood of made-up headers costs memory no more than it costs an HMAC each.
CACHED_HEADERS = 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Access(Enum):
    READ = "read"
    OWNER = "owner"
    PEER = "peer"


class RegistryAuth:
    """Checks `Authorization` headers against the registry secret, remembering the answers."""

    def __init__(self, registry_secret: str) -> None:
        if not registry_secret:
            raise ConfigurationError(
                "the registry needs REELCLOUD_REGISTRY_SECRET: it checks every caller's "
                "credential with it (`reelcloud up` passes the data directory's)"
            )
        # Renewals are the registry's hot path: one HMAC per header, not per request.
        self.caller: Callable[[str | None], str | None] = functools.lru_cache(CACHED_HEADERS)(
            functools.partial(registry_caller, registry_secret)
        )

    def check(self, header: str | None, access: Access, app: str, *, replication: bool) -> str:
        """The caller's name if it may do this; else UnauthenticatedError or ForbiddenError."""
        return decide(self.caller(header), access, app, replication=replication)


def decide(caller: str | None, access: Access, app: str, *, replication: bool) -> str:
    """The registry's rule for one request (see the module docstring)."""
    if caller is None:
        raise UnauthenticatedError("the registry needs a valid service credential (basic auth)")
    if access is Access.PEER or (access is Access.OWNER and replication):
        if caller != PEER_USER:
            raise ForbiddenError(f"{caller} may not replicate: only registry peers do")
    elif access is Access.OWNER and caller.upper() != app.upper():
        raise ForbiddenError(f"{caller} may not change instances of {app.upper()}")
    return caller


AUTH = web.AppKey("registry_auth", RegistryAuth)


def guarded(
    access: Access, *, is_replication: Callable[[web.Request], bool]
) -> Callable[[Handler], Handler]:
    """A handler that runs only for callers `access` allows (the app's `AUTH` decides)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            app = request.match_info.get("app", "")
            try:
                request.app[AUTH].check(
                    request.headers.get("Authorization"),
                    access,
                    app,
                    replication=is_replication(request),
                )
            except UnauthenticatedError as exc:
                response = error_response(exc.status, exc.code, exc.message)
                response.headers["WWW-Authenticate"] = REALM
                return response
            return await handler(request)

        return checked

    return wrap
