import pytest

from reelcloud.platform.errors import BadRequestError, ForbiddenError
from reelcloud.platform.revocations import Revocations
from reelcloud.services.license.service import LicenseService
from reelcloud.services.license.tokens import PlayTokens

pytestmark = pytest.mark.asyncio

TITLE = "t-0123456789abcdef"
KEY = bytes(range(16))


class MemoryKeys:
    def __init__(self, keys):
        self.keys = keys

    async def get(self, title_id, key_id):
        return self.keys[(title_id, key_id)]


def service(clock, ttl_s=600, revocations=None):
    return LicenseService(
        PlayTokens("secret"), MemoryKeys({(TITLE, "k1"): KEY}), token_ttl_s=ttl_s, clock=clock,
        revocations=revocations,
    )  # fmt: skip


def issue(license_service, **overrides):
    values = {"member_id": "m-alice", "title_id": TITLE, "device_id": "d-alice-tv",
              "play_id": "pl-1", "key_id": "k1", "session_id": "s-1"}  # fmt: skip
    return license_service.issue_token(**(values | overrides))


async def test_a_token_opens_its_titles_key_and_names_its_play(clock):
    license_service = service(clock)
    issued = issue(license_service)
    assert issued.expires_at == int(clock.now()) + 600
    assert issued.key_path == f"/api/license/key/{TITLE}?t={issued.token}"
    key, grant = await license_service.key(TITLE, issued.token)
    assert key == KEY
    assert (grant.member_id, grant.device_id, grant.play_id) == ("m-alice", "d-alice-tv", "pl-1")


async def test_a_token_lives_no_longer_than_allowed_and_then_opens_nothing(clock):
    license_service = service(clock, ttl_s=600)
    assert issue(license_service, ttl_s=60).expires_at == int(clock.now()) + 60
    issued = issue(license_service, ttl_s=10**6)
    assert issued.expires_at == int(clock.now()) + 600
    clock.advance(600)
    with pytest.raises(ForbiddenError) as expired:
        await license_service.key(TITLE, issued.token)
    assert expired.value.code == "expired_play_token"


async def test_a_token_for_another_title_or_no_token_opens_nothing(clock):
    license_service = service(clock)
    issued = issue(license_service)
    with pytest.raises(ForbiddenError) as other:
        await license_service.key("t-ffffffffffffffff", issued.token)
    assert other.value.code == "wrong_title"
    with pytest.raises(ForbiddenError):
        await license_service.key(TITLE, "")
    with pytest.raises(BadRequestError):
        await license_service.key("../keys", issued.token)


async def test_a_token_needs_member_title_play_and_key(clock):
    license_service = service(clock)
    for missing in ({"member_id": ""}, {"play_id": ""}, {"key_id": ""}, {"title_id": "no/good"}):
        with pytest.raises(BadRequestError):
            issue(license_service, **missing)


async def test_no_key_for_an_ended_play_or_a_signed_out_session(clock):
    revocations = Revocations(None)
    license_service = service(clock, revocations=revocations)
    first = issue(license_service, play_id="pl-1", session_id="s-1")
    second = issue(license_service, play_id="pl-2", session_id="s-2")
    third = issue(license_service, play_id="pl-3", session_id="s-1")
    assert (await license_service.key(TITLE, first.token))[0] == KEY
    await revocations.end_play("pl-1")
    with pytest.raises(ForbiddenError) as ended:
        await license_service.key(TITLE, first.token)
    assert ended.value.code == "play_ended"
    await revocations.revoke_session("s-1")
    with pytest.raises(ForbiddenError) as signed_out:
        await license_service.key(TITLE, third.token)
    assert signed_out.value.code == "session_revoked"
    assert (await license_service.key(TITLE, second.token))[0] == KEY  # others play on
