"""Accounts under a burst of sign-ups (CreateMember, as the sign-up API calls it) and sign-ins,
on real PostgreSQL: the play path's GetMember keeps answering within the Play API's own
deadline while passwords are hashed."""

import asyncio
import base64
import secrets

import aiohttp
import orjson
import pytest
import pytest_asyncio
from tests.support.platform import Platform, running_platform

from reelcloud.platform.errors import UnavailableError
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


async def sign_up(accounts: RpcClient, n: int) -> str:
    """A sign-up as the sign-up API makes it (CreateMember over gRPC): "created", or "busy"
    when accounts shed it."""
    request = accounts_pb2.CreateMemberRequest(
        email=f"burst-{n}-{secrets.token_hex(4)}@example.test", password="long enough",
        name=f"Burst {n}", country="US", plan="basic",
    )  # fmt: skip
    try:
        created = await accounts.call("CreateMember", request, timeout_s=30)
    except UnavailableError as exc:  # shed: more hashes waiting than the pool finishes in time
        return exc.code  # "busy", checked with the other outcomes
    assert created.token
    assert created.member.status == "pending"
    return "created"


async def sign_in(http: aiohttp.ClientSession, base: str, n: int) -> str:
    _, email, *_ = DEMO_MEMBERS[n % len(DEMO_MEMBERS)]
    body = {"email": email, "password": DEMO_PASSWORD}
    async with http.post(f"{base}/api/accounts/login", json=body) as reply:
        answer = await reply.json()
        if reply.status == 503:  # shed, as above
            assert answer["error"]["code"] == "busy", answer
            assert int(reply.headers["Retry-After"]) >= 1
            return "busy"
        assert reply.status == 200, answer
        assert answer["token"]
        return "signed in"


@pytest.mark.asyncio(loop_scope="module")
async def test_get_member_answers_within_the_play_deadline_during_a_sign_in_burst(
    platform, accounts
):
    base = http_base(platform)
    connector = aiohttp.TCPConnector(limit=0)  # every request of the burst at once
    async with aiohttp.ClientSession(connector=connector) as http:
        body = {"email": DEMO_MEMBERS[0][1], "password": DEMO_PASSWORD}
        async with http.post(f"{base}/api/accounts/login", json=body) as reply:
            assert reply.status == 200, await reply.text()
            signed_in = await reply.json()
        member_id = signed_in["member"]["id"]
        session_id = session_of(signed_in["token"])
        request = accounts_pb2.GetMemberRequest(member_id=member_id, session_id=session_id)

        burst = asyncio.gather(
            *(sign_up(accounts, n) for n in range(BURST_SIGNUPS)),
            *(sign_in(http, base, n) for n in range(BURST_LOGINS)),
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
    assert set(outcomes) <= {"created", "signed in", "busy"}, outcomes
    assert {"created", "signed in"} & set(outcomes), outcomes  # not everything was shed


def session_of(token: str) -> str:
    """The session id inside a session token (read, not verified)."""
    payload = token.split(".")[0]
    return str(orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])
