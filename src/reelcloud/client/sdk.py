"""`PlatformClient`: a member's session with the platform, from a chosen source address.

A client "in ISP A" binds an address in 127.10.0.0/16: the gateway sees it, steering ranks the
OCAs of ISP A first, and the OCAs' signed URLs are bound to that network, so the same client
(same address) must fetch the segments. Errors from the platform become platform errors with
the server's code and message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from reelcloud.client.hls import MediaPlaylist, Multivariant, parse_media, parse_multivariant
from reelcloud.encoding.encryption import decrypt_segment
from reelcloud.platform.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ReelcloudError,
    UnauthenticatedError,
    UnavailableError,
)

_ERRORS: dict[int, type[ReelcloudError]] = {
    400: BadRequestError,
    401: UnauthenticatedError,
    403: ForbiddenError,
    404: NotFoundError,
    503: UnavailableError,
}


@dataclass(frozen=True)
class Play:
    """A started play, as `POST /api/play` answered it."""

    play_id: str
    title_id: str
    rungs: list[str]
    ocas: list[dict[str, Any]]
    multivariant: Multivariant
    raw: dict[str, Any]


class PlatformClient:
    def __init__(
        self,
        gateway: str,
        *,
        source_address: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.gateway = gateway.rstrip("/")
        self.source_address = source_address
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.token: str | None = None
        self.member: dict[str, Any] = {}
        self.profiles: list[dict[str, Any]] = []
        self.devices: list[dict[str, Any]] = []

    async def __aenter__(self) -> PlatformClient:
        local = (self.source_address, 0) if self.source_address else None
        connector = aiohttp.TCPConnector(local_addr=local, limit=64)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    # ---- HTTP -----------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else self.gateway + path_or_url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _request(self, method: str, path_or_url: str, **kwargs: Any) -> bytes:
        assert self._session is not None, "use `async with PlatformClient(...)`"
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        async with self._session.request(
            method, self._url(path_or_url), headers=headers, **kwargs
        ) as reply:
            body = await reply.read()
            if reply.status >= 400:
                raise _error(reply.status, body)
            return body

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return orjson.loads(await self._request(method, path, **kwargs))

    # ---- the platform ----------------------------------------------------------------------

    async def sign_in(self, email: str, password: str) -> dict[str, Any]:
        answer = await self._json(
            "POST", "/api/accounts/login", json={"email": email, "password": password}
        )
        self.token = answer["token"]
        self.member, self.profiles, self.devices = (
            answer["member"],
            answer["profiles"],
            answer["devices"],
        )
        return dict(answer)

    async def sign_out(self) -> None:
        await self._request("POST", "/api/accounts/logout")
        self.token = None

    async def titles(self, **filters: str) -> list[dict[str, Any]]:
        answer = await self._json("GET", "/api/catalog/titles", params=filters)
        return list(answer["titles"])

    async def play(
        self, title_id: str, *, profile_id: str | None = None, device_id: str | None = None
    ) -> Play:
        body = {
            "title_id": title_id,
            "profile_id": profile_id or self.profiles[0]["id"],
            "device_id": device_id or self.devices[0]["id"],
        }
        answer = await self._json("POST", "/api/play", json=body)
        hls = answer["hls"]
        return Play(
            play_id=answer["play_id"],
            title_id=answer["title_id"],
            rungs=answer["rungs"],
            ocas=answer["ocas"],
            multivariant=parse_multivariant(hls["playlist"], self._url(hls["url"])),
            raw=answer,
        )

    async def media_playlist(self, uri: str) -> MediaPlaylist:
        return parse_media((await self._request("GET", uri)).decode(), self._url(uri))

    async def key(self, uri: str) -> bytes:
        data = await self._request("GET", uri)
        if len(data) != 16:
            raise ReelcloudError(f"a content key is 16 bytes, got {len(data)}")
        return data

    async def fetch(self, url: str) -> bytes:
        """A file from an OCA (no session token: the URL is signed)."""
        assert self._session is not None
        async with self._session.get(url) as reply:
            body = await reply.read()
            if reply.status >= 400:
                raise _error(reply.status, body)
            return body

    async def segment(self, url: str, key: bytes | None, sequence: int) -> bytes:
        data = await self.fetch(url)
        return decrypt_segment(data, key, sequence) if key is not None else data

    async def heartbeat(self, play: Play, position_s: float, qoe: dict[str, Any]) -> None:
        await self._request(
            "POST", play.raw["heartbeat_url"], json={"position_s": position_s, "qoe": qoe}
        )

    async def stop(
        self, play: Play, position_s: float = 0.0, qoe: dict[str, Any] | None = None
    ) -> None:
        await self._request(
            "POST", play.raw["stop_url"], json={"position_s": position_s, "qoe": qoe or {}}
        )


def _error(status: int, body: bytes) -> ReelcloudError:
    try:
        error = orjson.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        code, message = "http_error", f"HTTP {status}"
    cls = _ERRORS.get(status, ReelcloudError)
    failure = cls(message, code=code)
    failure.status = status
    return failure
