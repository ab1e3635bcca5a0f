"""Fakes for the Play API's unit tests: services that answer protobuf messages (or fail), and a
store and service over in-memory zones on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.unit.apis.play.fakes import TITLE_ID, FakeService, candidate, manifest_json

from reelcloud.apis.play.service import PlayService
from reelcloud.apis.play.settings import PlaySettings
from reelcloud.apis.play.store import PlayStore
from reelcloud.platform.cache import Cache, LookupCache, MemoryStore, NearCache, ReplicatedStore
from reelcloud.platform.signed_blobs import SignedBlobs
from reelcloud.rpc import accounts_pb2, catalog_pb2, license_pb2, playback_pb2, steering_pb2


@pytest.fixture
def accounts() -> FakeService:
    return FakeService(
        "accounts",
        {
            "GetMember": lambda r: accounts_pb2.Member(
                id=r.member_id,
                country="US",
                plan="premium",
                status="active",
                max_height=1080,
                max_streams=4,
            ),
            "GetProfile": lambda r: accounts_pb2.Profile(
                id=r.profile_id, member_id=r.member_id, maturity="R"
            ),
            "GetDevice": lambda r: accounts_pb2.Device(
                id=r.device_id, member_id=r.member_id, max_height=1080, drm="aes-128"
            ),
        },
    )


@pytest.fixture
def catalog() -> FakeService:
    title = catalog_pb2.Title(
        id=TITLE_ID,
        name="Bench",
        maturity="PG",
        manifest_json=manifest_json(),
        licenses=[catalog_pb2.License(title_id=TITLE_ID, country="US", active=True)],
    )
    return FakeService("catalog", {"GetTitle": title})


@pytest.fixture
def steering() -> FakeService:
    return FakeService(
        "steering",
        {
            "Steer": steering_pb2.SteerResponse(
                candidates=[candidate("oca-a-1"), candidate("oca-ixp-1")],
                expires_at=2_000_000_000,
                steering_path="/steering/v1/manifest?s=blob",
            )
        },
    )


@pytest.fixture
def playback() -> FakeService:
    plays = iter(range(1, 1_000_000))
    return FakeService(
        "playback",
        {
            "Authorize": lambda r: playback_pb2.AuthorizeResponse(
                allowed=True, play_id=f"pl-{next(plays)}", rungs=["240p", "480p"]
            ),
            "Stop": playback_pb2.StopResponse(stopped=True),
            "Heartbeat": playback_pb2.HeartbeatResponse(active=True),
        },
    )


@pytest.fixture
def license_service() -> FakeService:
    return FakeService(
        "license",
        {
            "IssueToken": lambda r: license_pb2.IssueTokenResponse(
                token="tok",
                expires_at=1_900_000_000,
                key_path=f"/api/license/key/{r.title_id}?t=tok",
            )
        },
    )


@pytest.fixture
def zones(clock) -> dict[str, MemoryStore]:
    return {"z1": MemoryStore(clock=clock), "z2": MemoryStore(clock=clock)}


@pytest.fixture
def make_store(clock, zones, accounts, catalog, steering) -> Callable[..., PlayStore]:
    """A Play API instance's store (its own near cache) over the shared zones."""

    def make(zone: str = "z1", **options: Any) -> PlayStore:
        cache = LookupCache(
            NearCache(clock=clock),
            Cache("play-api", ReplicatedStore(zones, zone, clock=clock)),
            clock=clock,
        )
        return PlayStore(
            cache, accounts=accounts, catalog=catalog, steering=steering, origin=None,
            options=PlaySettings(**options),
        )  # fmt: skip

    return make


@pytest.fixture
def events() -> list[Any]:
    return []


@pytest.fixture
def service(make_store, playback, license_service, events) -> PlayService:
    return PlayService(
        make_store(),
        playback=playback,
        license=license_service,
        blobs=SignedBlobs("test-secret", "play session"),
        options=PlaySettings(),
        emit=events.append,
    )
