"""Accounts under a burst of sign-ups and sign-ins, on real PostgreSQL: the play path's
GetMember keeps answering within the Play API's own deadline while passwords are hashed."""

import asyncio
import base64
import secrets

import aiohttp
import orjson
import pytest
import pytest_asyncio
from tests.support.platform import Platform, running_platform

from reelcloud.platform.rpc import RpcClient
from reelcloud.rpc import accounts_pb2, accounts_pb2_grpc
from reelcloud.services.accounts.demo import DEMO_MEMBERS, DEMO_PASSWORD

# The Play API's accounts_timeout_ms (its default): a GetMember slower than this loses a play.
PLAY_API_ACCOUNTS_TIMEOUT_S = 0.250
BURST_SIGNUPS = 24
BURST_LOGINS = 24


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    with running_platform(
        tmp_path_factory.mktemp("accounts-load"), [{"name": "accounts"}], engines=("postgres",)
    ) as platform:
        yield platform


@pytest_asyncio.fixture(loop_scope="module")
async def accounts(platform):
    discovery = await platform.discovery("accounts")
    client = RpcClient(discovery, "accounts", accounts_pb2_grpc.AccountsStub)
    yield client
    await client.aclose()
    await discovery.aclose()


def http_base(platform: Platform) -> str:
    address = platform.address_of("accounts")
    return address if address.startswith("http") else f"http://{address}"


async def sign_up_or_in(http: aiohttp.ClientSession, base: str, n: int) -> tuple[int, dict, str]:
    if n < BURST_SIGNUPS:
        path = "/api/accounts/signup"
        body = {
            "email": f"burst-{n}-{secrets.token_hex(4)}@example.test",
            "password": "long enough",
            "name": f"Burst {n}",
            "country": "US",
        }
    else:
        _, email, *_ = DEMO_MEMBERS[n % len(DEMO_MEMBERS)]
        path, body = "/api/accounts/login", {"email": email, "password": DEMO_PASSWORD}
    async with http.post(base + path, json=body) as reply:
        return reply.status, await reply.json(), reply.headers.get("Retry-After", "")


@pytest.mark.asyncio(loop_scope="module")
async def test_get_member_answers_within_the_play_deadline_during_a_sign_in_burst(
    platform, accounts
):
    base = http_base(platform)
    connector = aiohttp.TCPConnector(limit=0)  # every request of the burst at once
    async with aiohttp.ClientSession(connector=connector) as http:
        status, body, _ = await sign_up_or_in(http, base, BURST_SIGNUPS)  # a demo member
        assert status == 200, body
        member_id = body["member"]["id"]
        session_id = session_of(body["token"])
        request = accounts_pb2.GetMemberRequest(member_id=member_id, session_id=session_id)

        burst = asyncio.gather(
            *(sign_up_or_in(http, base, n) for n in range(BURST_SIGNUPS + BURST_LOGINS))
        )
        answered, failed = 0, []
        while True:  # GetMember as the Play API calls it, back to back until the burst is over
            try:
                member = await accounts.call(
                    "GetMember", request, timeout_s=PLAY_API_ACCOUNTS_TIMEOUT_S
                )
                assert member.id == member_id
                answered += 1
            except Exception as exc:
                failed.append(repr(exc))
            if burst.done():
                break
        outcomes = await burst

    assert failed == [], f"{len(failed)} of {answered + len(failed)} GetMember calls failed"
    assert answered > 0
    for status, body, retry_after in outcomes:
        if status == 503:  # shed: more hashes waiting than the pool finishes in time
            assert body["error"]["code"] == "busy", body
            assert int(retry_after) >= 1
        else:
            assert status in (200, 201), body
            assert body["token"]
    assert any(status in (200, 201) for status, _, _ in outcomes)


def session_of(token: str) -> str:
    """The session id inside a session token (read, not verified)."""
    payload = token.split(".")[0]
    return str(orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])
