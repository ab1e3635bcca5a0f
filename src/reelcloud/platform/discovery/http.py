"""HTTP/JSON calls to a service found through discovery (for the few HTTP-only APIs, such as
cache control's reports and state), with the same failure handling everywhere: an instance
that refuses connections is dropped locally, and anything but a 2xx JSON answer is an
`UnavailableError` naming the service."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from reelcloud.platform.discovery.client import DiscoveryClient
from reelcloud.platform.errors import UnavailableError


class ServiceHttpClient:
    def __init__(self, discovery: DiscoveryClient, service: str, *, timeout_s: float = 2.0) -> None:
        self.discovery = discovery
        self.service = service
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer of one instance of the service."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        instance = self.discovery.choose(self.service)
        url = f"http://{instance.ip_addr}:{instance.port}{path}"
        sent_headers = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        try:
            async with self._session.request(
                method, url, params=params, data=body, headers=sent_headers
            ) as reply:
                data = await reply.read()
                if not 200 <= reply.status < 300:
                    text = data[:200].decode(errors="replace")
                    raise UnavailableError(
                        f"{self.service} answered {method} {path} with {reply.status}: {text}"
                    )
        except aiohttp.ClientConnectionError as exc:
            if isinstance(exc, aiohttp.ClientConnectorError):
                self.discovery.mark_unreachable(instance)
            raise UnavailableError(f"{self.service} unreachable: {exc}") from exc
        except TimeoutError as exc:
            raise UnavailableError(f"{self.service} did not answer {path} in time") from exc
        try:
            return orjson.loads(data) if data else None
        except orjson.JSONDecodeError as exc:
            raise UnavailableError(f"{self.service} answered {path} with no JSON") from exc

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
        return await self.request("POST", path, body=body, headers=headers)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
