"""The registry's auth rule, decision by decision, and the cache that keeps it off the hot path."""

import pytest

from reelcloud.platform.credentials import PEER_USER, basic_authorization, service_password
from reelcloud.platform.errors import ConfigurationError, ForbiddenError, UnauthenticatedError
from reelcloud.registry.auth import Access, RegistryAuth, decide

SECRET = "unit-registry-secret"


def header(user: str, secret: str = SECRET) -> str:
    return basic_authorization(user, service_password(secret, user))


@pytest.mark.parametrize("access", list(Access))
@pytest.mark.parametrize("replication", [False, True])
def test_no_caller_is_unauthenticated_whatever_it_asks(access, replication):
    with pytest.raises(UnauthenticatedError):
        decide(None, access, "PLAY-API", replication=replication)


@pytest.mark.parametrize("caller", ["play-api", "gateway", "oca", PEER_USER])
def test_any_caller_reads(caller):
    assert decide(caller, Access.READ, "PLAY-API", replication=False) == caller


@pytest.mark.parametrize("app", ["PLAY-API", "play-api", "Play-Api"])
def test_a_service_changes_its_own_app_in_any_case(app):
    assert decide("play-api", Access.OWNER, app, replication=False) == "play-api"


@pytest.mark.parametrize("caller", ["playback", "gateway", PEER_USER, "play-api-2", "play"])
def test_nobody_else_changes_a_services_instances(caller):
    with pytest.raises(ForbiddenError):
        decide(caller, Access.OWNER, "PLAY-API", replication=False)


def test_replicated_changes_and_batches_are_the_peers_alone():
    assert decide(PEER_USER, Access.OWNER, "PLAY-API", replication=True) == PEER_USER
    assert decide(PEER_USER, Access.PEER, "", replication=False) == PEER_USER
    for access in (Access.OWNER, Access.PEER):
        with pytest.raises(ForbiddenError):
            decide("play-api", access, "PLAY-API", replication=True)


def test_headers_are_checked_against_the_secret():
    auth = RegistryAuth(SECRET)
    assert auth.caller(header("play-api")) == "play-api"
    assert auth.caller(header("play-api", secret="another secret")) is None
    assert auth.caller(basic_authorization("play-api", "")) is None
    assert auth.caller("Basic !!!") is None
    assert auth.caller(None) is None
    with pytest.raises(ForbiddenError):
        auth.check(header("playback"), Access.OWNER, "PLAY-API", replication=False)


def test_a_header_is_verified_once_then_remembered():
    auth = RegistryAuth(SECRET)
    renewal = header("play-api")
    for _ in range(100):
        assert auth.check(renewal, Access.OWNER, "PLAY-API", replication=False) == "play-api"
    info = auth.caller.cache_info()  # type: ignore[attr-defined]
    assert (info.misses, info.hits) == (1, 99)


def test_no_secret_no_registry():
    with pytest.raises(ConfigurationError, match="REELCLOUD_REGISTRY_SECRET"):
        RegistryAuth("")
