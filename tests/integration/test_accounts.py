"""Accounts with real PostgreSQL, behind the real gateway: sign in, sessions, ownership."""

import base64

import aiohttp
import orjson
import pytest
import pytest_asyncio
from tests.support.platform import Platform, running_platform

from reelcloud.platform.errors import BadRequestError, NotFoundError, UnauthenticatedError
from reelcloud.platform.rpc import RpcClient
from reelcloud.rpc import accounts_pb2, accounts_pb2_grpc

pytestmark = pytest.mark.asyncio


def session_of(token: str) -> str:
    """The session id a token names (its claims are readable, only its signature is secret)."""
    payload = token.split(".")[0]
    return str(orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    services = [{"name": "accounts"}, {"name": "gateway", "layer": 2}]
    with running_platform(
        tmp_path_factory.mktemp("accounts"), services, engines=("postgres",)
    ) as platform:
        yield platform.data_dir, platform.gateway


@pytest_asyncio.fixture(loop_scope="module")
async def accounts(platform):
    data_dir, gateway = platform
    discovery = await Platform(data_dir, int(gateway.rsplit(":", 1)[1])).discovery("accounts")
    client = RpcClient(discovery, "accounts", accounts_pb2_grpc.AccountsStub)
    yield client
    await client.aclose()
    await discovery.aclose()


async def login(http, base, email="alice@reelcloud.test", password="reelcloud"):
    async with http.post(
        f"{base}/api/accounts/login", json={"email": email, "password": password}
    ) as reply:
        return reply.status, await reply.json()


@pytest.mark.asyncio(loop_scope="module")
async def test_sign_in_use_the_session_sign_out(platform, accounts):
    _, base = platform
    # unsafe: keep cookies for an IP-address host, as a browser does for 127.0.0.1.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        code, body = await login(http, base)
        assert code == 200, body
        assert body["member"]["plan"] == {"name": "premium", "max_height": 1080, "max_streams": 4}
        assert body["member"]["country"] == "US"
        assert {p["id"] for p in body["profiles"]} == {"p-alice", "p-alice-kids"}
        token = body["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{base}/api/accounts/me", headers=bearer) as reply:
            assert reply.status == 200
            assert (await reply.json())["member"]["id"] == "m-alice"
        # The cookie set at login works as well (what a browser sends).
        async with http.get(f"{base}/api/accounts/me") as reply:
            assert reply.status == 200

        sid = session_of(token)
        member = await accounts.call(
            "GetMember", accounts_pb2.GetMemberRequest(member_id="m-alice", session_id=sid),
            timeout_s=2,
        )  # fmt: skip
        assert (member.plan, member.max_streams, member.status) == ("premium", 4, "active")
        with pytest.raises(UnauthenticatedError):  # no session, no member: a forged token's case
            await accounts.call(
                "GetMember", accounts_pb2.GetMemberRequest(member_id="m-alice"), timeout_s=2
            )

        async with http.post(f"{base}/api/accounts/logout", headers=bearer) as reply:
            assert reply.status == 200
        http.cookie_jar.clear()
        async with http.get(f"{base}/api/accounts/me", headers=bearer) as reply:
            assert reply.status == 401
            assert (await reply.json())["error"]["code"] == "session_revoked"
        # Its session id is refused over gRPC too.
        with pytest.raises(UnauthenticatedError):
            await accounts.call(
                "GetMember",
                accounts_pb2.GetMemberRequest(member_id="m-alice", session_id=sid),
                timeout_s=2,
            )


@pytest.mark.asyncio(loop_scope="module")
async def test_profiles_and_devices_of_another_member_are_not_found(platform, accounts):
    mine = await accounts.call(
        "GetProfile",
        accounts_pb2.GetProfileRequest(member_id="m-bruno", profile_id="p-bruno"),
        timeout_s=2,
    )
    assert mine.maturity == "R"
    device = await accounts.call(
        "GetDevice",
        accounts_pb2.GetDeviceRequest(member_id="m-chen", device_id="d-chen-phone"),
        timeout_s=2,
    )
    assert (device.type, device.max_height) == ("phone", 720)
    for request in (
        accounts_pb2.GetProfileRequest(member_id="m-bruno", profile_id="p-alice"),
        accounts_pb2.GetProfileRequest(member_id="m-bruno", profile_id="nope"),
    ):
        with pytest.raises(NotFoundError):
            await accounts.call("GetProfile", request, timeout_s=2)
    with pytest.raises(NotFoundError):
        await accounts.call(
            "GetDevice",
            accounts_pb2.GetDeviceRequest(member_id="m-chen", device_id="d-alice-tv"),
            timeout_s=2,
        )
    with pytest.raises(UnauthenticatedError):  # nobody has no session either
        await accounts.call(
            "GetMember",
            accounts_pb2.GetMemberRequest(member_id="m-nobody", session_id="s-guess"),
            timeout_s=2,
        )


@pytest.mark.asyncio(loop_scope="module")
async def test_bad_sign_ins_are_refused_clearly(platform):
    _, base = platform
    async with aiohttp.ClientSession() as http:
        assert (await login(http, base, password="wrong"))[0] == 401
        code, body = await login(http, base, email="nobody@reelcloud.test")
        assert code == 401
        assert body["error"]["code"] == "invalid_credentials"
        for payload in (b"", b"{", b"[]", b'{"email": 5, "password": "x"}', b'{"email": "a@b.c"}',
                        b'{"email": "a@b.c", "password": "x", "admin": true}',
                        b'{"email": "' + b"a" * 300 + b'", "password": "x"}'):  # fmt: skip
            async with http.post(f"{base}/api/accounts/login", data=payload) as reply:
                assert reply.status == 400, payload
                assert (await reply.json())["error"]["message"]
        async with http.post(f"{base}/api/accounts/logout") as reply:  # no session
            assert reply.status == 401
        forged = {"Authorization": "Bearer eyJzdWIiOiJtLWFsaWNlIn0.c2lnbmF0dXJl"}
        async with http.get(f"{base}/api/accounts/me", headers=forged) as reply:
            assert reply.status == 401  # the gateway refuses it before accounts sees it
        # A member header from outside is not believed: the gateway strips it.
        async with http.get(
            f"{base}/api/accounts/me",
            headers={"X-Reelcloud-Member": "m-alice", "X-Reelcloud-Session": "s-guess"},
        ) as reply:
            assert reply.status == 401


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    "body", [{"email": "alice@reelcloud.test\u0000"}, {"password": "reelcloud\u0000"}]
)
async def test_a_nul_character_in_a_field_is_a_400_not_a_500(platform, body):
    """PostgreSQL refuses NUL in text: it must never get that far (sign-up forms: the sign-up
    API's tests)."""
    _, base = platform
    form = {"email": "alice@reelcloud.test", "password": "reelcloud"} | body
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/accounts/login", json=form) as reply,
    ):
        assert reply.status == 400, await reply.text()
        error = (await reply.json())["error"]
        assert error["code"] == "bad_request"
        assert "NUL" in error["message"]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_nul_character_in_an_id_over_grpc_is_a_bad_request(accounts):
    for method, request in (
        ("GetMember", accounts_pb2.GetMemberRequest(member_id="m-alice\x00")),
        ("GetMember", accounts_pb2.GetMemberRequest(member_id="m-alice", session_id="s\x00")),
        ("GetProfile", accounts_pb2.GetProfileRequest(member_id="m-bruno", profile_id="p\x00")),
        ("GetDevice", accounts_pb2.GetDeviceRequest(member_id="m\x00", device_id="d-chen-tv")),
        ("CreateMember", accounts_pb2.CreateMemberRequest(
            email="nul\x00@example.test", password="long enough", name="N", country="US")),
        ("CreateMember", accounts_pb2.CreateMemberRequest(
            email="nul@example.test", password="long enough", name="N", country="US",
            signup_key="k\x00")),
    ):  # fmt: skip
        with pytest.raises(BadRequestError):
            await accounts.call(method, request, timeout_s=2)
