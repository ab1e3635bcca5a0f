"""The Play API's reads: members, profiles, devices, titles and steering answers through the
zone-replicated cache (near cache → memcached, local zone first → the service → the last
answer as a fallback; `platform.cache.lookup`), and stored playlists from the origin.

What each answer may do when its service fails:
- member (with its session check): fresh for `member_cache_s`, never served stale — a
  signed-out session plays for at most that long, and an accounts outage fails plays;
- profile, device: fresh for `account_cache_s`, then a fallback for `account_stale_s`;
- title: fresh for `title_cache_s`, then a fallback for `title_stale_s`;
- steering, per (client /24, simulated network, title, rungs): fresh for `steering_cache_s`,
  a fallback for `steering_stale_s`; an answer with no candidates is never stored.
"""

from __future__ import annotations

from typing import Any, Protocol

from reelcloud.apis.play.models import Steered, TitleInfo
from reelcloud.apis.play.settings import PlaySettings
from reelcloud.platform.cache import LookupCache, ProtobufCodec
from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.signed_urls import client_network
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore
from reelcloud.rpc import accounts_pb2, catalog_pb2, steering_pb2


class Calls(Protocol):
    """A service called as a command (`dependencies.Dependency`, or a fake in tests)."""

    async def call(self, method: str, request: Any) -> Any: ...


class TitleCodec:
    """A title is stored as catalog's answer and cached near already worked out."""

    def encode(self, value: TitleInfo) -> bytes:
        encoded: bytes = value.title.SerializeToString()
        return encoded

    def decode(self, data: bytes) -> TitleInfo:
        return TitleInfo.of(catalog_pb2.Title.FromString(data))


def has_candidates(answer: steering_pb2.SteerResponse) -> bool:
    return len(answer.candidates) > 0


class PlayStore:
    def __init__(
        self,
        cache: LookupCache,
        *,
        accounts: Calls,
        catalog: Calls,
        steering: Calls,
        origin: ObjectStore | None,
        options: PlaySettings,
    ) -> None:
        self.cache = cache
        self._accounts = accounts
        self._catalog = catalog
        self._steering = steering
        self._origin = origin
        self._members = cache.lookup(
            "member", ProtobufCodec(accounts_pb2.Member), fresh_s=options.member_cache_s
        )
        self._profiles = cache.lookup(
            "profile",
            ProtobufCodec(accounts_pb2.Profile),
            fresh_s=options.account_cache_s,
            stale_s=options.account_stale_s,
        )
        self._devices = cache.lookup(
            "device",
            ProtobufCodec(accounts_pb2.Device),
            fresh_s=options.account_cache_s,
            stale_s=options.account_stale_s,
        )
        self._titles = cache.lookup(
            "title", TitleCodec(), fresh_s=options.title_cache_s, stale_s=options.title_stale_s
        )
        self._steered = cache.lookup(
            "steering",
            ProtobufCodec(steering_pb2.SteerResponse),
            fresh_s=options.steering_cache_s,
            stale_s=options.steering_stale_s,
            keep=has_candidates,
        )
        self._templates: dict[tuple[str, str], str] = {}  # stored playlists: immutable

    async def member(self, member_id: str, session_id: str) -> accounts_pb2.Member:
        request = accounts_pb2.GetMemberRequest(member_id=member_id, session_id=session_id)
        return await self._members.get(
            f"{member_id}:{session_id}", lambda: self._accounts.call("GetMember", request)
        )

    async def profile(self, member_id: str, profile_id: str) -> accounts_pb2.Profile:
        request = accounts_pb2.GetProfileRequest(member_id=member_id, profile_id=profile_id)
        return await self._profiles.get(
            f"{member_id}:{profile_id}", lambda: self._accounts.call("GetProfile", request)
        )

    async def device(self, member_id: str, device_id: str) -> accounts_pb2.Device:
        request = accounts_pb2.GetDeviceRequest(member_id=member_id, device_id=device_id)
        return await self._devices.get(
            f"{member_id}:{device_id}", lambda: self._accounts.call("GetDevice", request)
        )

    async def title(self, title_id: str) -> TitleInfo:
        async def load() -> TitleInfo:
            request = catalog_pb2.GetTitleRequest(title_id=title_id)
            return TitleInfo.of(await self._catalog.call("GetTitle", request))

        return await self._titles.get(title_id, load)

    async def steer(self, request: steering_pb2.SteerRequest, rungs: list[str]) -> Steered:
        # The URLs' token is bound to the client's own /24; the candidates are chosen for the
        # network it says it sits in: an answer serves only clients alike in both.
        simulated = client_network(request.network_address) if request.network_address else ""
        key = "|".join(
            (client_network(request.client_address), simulated, request.title_id, ",".join(rungs))
        )
        found = await self._steered.fetch(key, lambda: self._steering.call("Steer", request))
        return Steered(found.value, fallback=found.stale)

    async def template(self, title_id: str, name: str) -> str:
        cached = self._templates.get((title_id, name))
        if cached is None:
            if self._origin is None:
                raise UnavailableError("no origin configured for playlists")
            data = await self._origin.get(ASSETS_BUCKET, f"titles/{title_id}/{name}")
            cached = self._templates[(title_id, name)] = data.decode()
        return cached
