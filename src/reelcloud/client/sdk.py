"""`PlatformClient`: a member's session with the platform, from a chosen source address.

A client "in ISP A" binds an address in 127.10.0.0/16: the gateway sees it, steering ranks the
OCAs of ISP A first, and the OCAs' signed URLs are bound to that network, so the same client
(same address) must fetch the segments. Errors from the platform become platform errors with
the server's code and message; a connection that fails is an `UnavailableError` with code
`connection_failed`, so callers handle one error tree.

A `Throttle` (network.py) holds OCA downloads to an emulated network's bandwidth.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp
import orjson

from reelcloud.client.hls import MediaPlaylist, Multivariant, parse_media, parse_multivariant
from reelcloud.client.network import Throttle
from reelcloud.encoding.encryption import decrypt_segment
from reelcloud.platform.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PaymentRequiredError,
    ReelcloudError,
    UnauthenticatedError,
    UnavailableError,
)

_ERRORS: dict[int, type[ReelcloudError]] = {
    400: BadRequestError,
    401: UnauthenticatedError,
    402: PaymentRequiredError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    503: UnavailableError,
}


# The card processor's approving test card (services/payments/cards.py): any future expiry.
TEST_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}

CHUNK_BYTES = 64 * 1024
MAX_STEERING_BYTES = 64 * 1024
# A service shedding load (503 with Retry-After, e.g. accounts' password hashing) is asked
# again this many times, after the wait it names (at most MAX_RETRY_AFTER_S).
BUSY_RETRIES = 3
MAX_RETRY_AFTER_S = 5.0


class SegmentDecryptError(ReelcloudError):
    """A segment did not decrypt with the key the license service gave."""


@dataclass(frozen=True)
class SteeringManifest:
    """A content-steering answer: pathways best first, how long it holds, where to ask next."""

    pathways: list[str]
    ttl_s: float
    reload_uri: str | None


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
        throttle: Throttle | None = None,
    ) -> None:
        self.gateway = gateway.rstrip("/")
        self.source_address = source_address
        self.throttle = throttle
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

    @asynccontextmanager
    async def _reply(
        self, method: str, url: str, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        assert self._session is not None, "use `async with PlatformClient(...)`"
        try:
            async with self._session.request(method, url, **kwargs) as reply:
                yield reply
        except aiohttp.ClientError as exc:
            where = url.split("://", 1)[-1].split("/", 1)[0]
            raise UnavailableError(f"{where}: {exc}", code="connection_failed") from None

    async def _request(self, method: str, path_or_url: str, **kwargs: Any) -> bytes:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        for attempt in range(BUSY_RETRIES + 1):
            async with self._reply(
                method, self._url(path_or_url), headers=headers, **kwargs
            ) as reply:
                body = await reply.read()
                if reply.status < 400:
                    return body
                retry_after = _retry_after_s(reply) if reply.status == 503 else None
                if retry_after is None or attempt == BUSY_RETRIES:
                    raise _error(reply.status, body)
            # Shed before any work was done (503 with Retry-After): asking again is safe.
            await asyncio.sleep(retry_after)
        raise AssertionError("unreachable")

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return orjson.loads(await self._request(method, path, **kwargs))

    # ---- the platform ----------------------------------------------------------------------

    async def sign_in(self, email: str, password: str) -> dict[str, Any]:
        answer = await self._json(
            "POST", "/api/accounts/login", json={"email": email, "password": password}
        )
        self._signed_in(answer)
        return dict(answer)

    def _signed_in(self, answer: dict[str, Any]) -> None:
        self.token = answer["token"]
        self.member, self.profiles, self.devices = (
            answer["member"],
            answer["profiles"],
            answer["devices"],
        )

    async def sign_up(
        self,
        email: str,
        password: str,
        *,
        name: str,
        country: str,
        plan: str = "standard",
        card: dict[str, Any] | None = None,
        trial: str = "if_eligible",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A new member through the sign-up API, signed in: a free trial when the email and
        card never had one (`trial`: if_eligible | required | none), on `card` (by default
        the processor's approving test card). The answer's `status` is "active", or
        "requires_action" / "pending" when the payment is not finished."""
        form = {
            "email": email, "password": password, "name": name, "country": country,
            "plan": plan, "card": card or TEST_CARD, "trial": trial,
        }  # fmt: skip
        key = idempotency_key or uuid.uuid4().hex
        answer = await self._json(
            "POST", "/api/signup", json=form, headers={"Idempotency-Key": key}
        )
        self._signed_in(answer)
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
        # By default the member's own profile, not the kids' one (rated G).
        grown_up = next((p for p in self.profiles if p.get("maturity") != "G"), self.profiles[0])
        body = {
            "title_id": title_id,
            "profile_id": profile_id or grown_up["id"],
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

    async def fetch(self, url: str, *, first_bytes: int | None = None) -> bytes:
        """A file from an OCA (no session token: the URL is signed), through the throttle;
        `first_bytes`: only that much of its start (a ranged GET)."""
        headers = {"Range": f"bytes=0-{first_bytes - 1}"} if first_bytes else {}
        async with self._reply("GET", url, headers=headers) as reply:
            if reply.status >= 400:
                raise _error(reply.status, await reply.read())
            if self.throttle is None:
                return await reply.read()
            chunks = []  # a broken transfer is mapped to connection_failed by _reply
            async for chunk in reply.content.iter_chunked(CHUNK_BYTES):
                await self.throttle.take(len(chunk))
                chunks.append(chunk)
            return b"".join(chunks)

    async def segment(self, url: str, key: bytes | None, sequence: int) -> bytes:
        data = await self.fetch(url)
        if key is None:
            return data
        try:
            return decrypt_segment(data, key, sequence)
        except ValueError:  # bad padding or a length that is not whole blocks
            raise SegmentDecryptError(
                f"segment {sequence} does not decrypt with the title's key", code="decrypt_failed"
            ) from None

    async def steering(self, url: str) -> SteeringManifest:
        """The content-steering manifest at `url` (HLS form: PATHWAY-PRIORITY)."""
        body = await self._request("GET", url)
        if len(body) > MAX_STEERING_BYTES:
            raise BadRequestError("the steering manifest is too large", code="bad_steering")
        try:
            answer = orjson.loads(body)
            pathways = answer["PATHWAY-PRIORITY"]
            ttl_s = float(answer.get("TTL", 300))
            reload_uri = answer.get("RELOAD-URI")
            if not isinstance(pathways, list) or not all(isinstance(p, str) for p in pathways):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise BadRequestError(
                "the steering manifest is not a JSON PATHWAY-PRIORITY document",
                code="bad_steering",
            ) from None
        next_url = urljoin(url, reload_uri) if isinstance(reload_uri, str) else None
        return SteeringManifest(pathways, max(1.0, ttl_s), next_url)

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


def _retry_after_s(reply: aiohttp.ClientResponse) -> float | None:
    """The wait a shedding service asked for (whole seconds, per RFC 9110), capped."""
    try:
        return min(float(reply.headers["Retry-After"]), MAX_RETRY_AFTER_S)
    except (KeyError, ValueError):
        return None


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
