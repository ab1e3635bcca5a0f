from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import orjson

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import EndpointFilter
from reelcloud.gateway.http.messages import Response
from reelcloud.gateway.outcome import Outcome
from reelcloud.gateway.routing import RouteTable
from reelcloud.platform.discovery import DiscoveryClient
from reelcloud.platform.errors import ReelcloudError
from reelcloud.platform.openapi import FRAGMENT_PATH, document

log = logging.getLogger(__name__)

TITLE = "reelcloud public API"
VERSION = "1"
FRAGMENT_TIMEOUT_S = 2.0


class OpenApiEndpoint(EndpointFilter):
    """`/api/openapi.json`: the public API as the gateway routes it, merged from the fragments
    each origin service describes from its own models (`platform/openapi.py`). Only paths the
    route table sends to the service that describes them are kept, so the document is what a
    client of this gateway can call. Rebuilt at most every `cache_s`; a service that does not
    answer is left out and named in `x-reelcloud-missing`."""

    name = "openapi"
    endpoint = "openapi"

    def __init__(
        self, discovery: DiscoveryClient, routes: RouteTable, cache_s: float = 10.0
    ) -> None:
        self._discovery = discovery
        self._routes = routes
        self._cache_s = cache_s
        self._built: tuple[float, bytes] | None = None
        self._lock = asyncio.Lock()

    async def apply(self, ctx: RequestContext) -> None:
        body = await self._document()
        ctx.outcome = Outcome.SUCCESS_LOCAL
        ctx.response = Response(
            200, [(b"content-type", b"application/json"), (b"cache-control", b"no-cache")], body
        )

    async def _document(self) -> bytes:
        async with self._lock:
            now = time.monotonic()
            if self._built is not None and now - self._built[0] < self._cache_s:
                return self._built[1]
            # Routes may name services this platform does not run (yet): those are left out.
            routed = {r.origin for r in self._routes.routes if r.origin}
            origins = sorted(o for o in routed if self._discovery.instances(o, usable_only=False))
            timeout = aiohttp.ClientTimeout(total=FRAGMENT_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                answers = await asyncio.gather(*(self._fragment(session, o) for o in origins))
            fragments, missing = [], []
            for origin, answer in zip(origins, answers, strict=True):
                if answer is None:
                    missing.append(origin)
                else:
                    fragments.append(self._routed(origin, answer))
            doc = document(TITLE, VERSION, fragments)
            if missing:
                doc["x-reelcloud-missing"] = missing
            body = orjson.dumps(doc)
            # A partial document is rebuilt at the next request, a whole one after cache_s.
            self._built = None if missing else (now, body)
            return body

    async def _fragment(self, session: aiohttp.ClientSession, origin: str) -> Any:
        try:
            instance = self._discovery.choose(origin)
            url = f"http://{instance.ip_addr}:{instance.port}{FRAGMENT_PATH}"
            async with session.get(url) as reply:
                if reply.status != 200:
                    return None
                return orjson.loads(await reply.read())
        except (ReelcloudError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("no OpenAPI fragment from %s: %s", origin, exc)
            return None

    def _routed(self, origin: str, fragment: dict[str, Any]) -> dict[str, Any]:
        paths = {}
        for path, operations in fragment.get("paths", {}).items():
            route = self._routes.match(path.split("{", 1)[0])
            if route is None or route.origin != origin:
                continue
            if route.auth == "required":
                for operation in operations.values():
                    operation["security"] = [{"session": []}]
                    operation["responses"].setdefault(
                        "401",
                        {
                            "description": "No valid session: sign in first.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorBody"}
                                }
                            },
                        },
                    )
            paths[path] = operations
        return {**fragment, "paths": paths}
