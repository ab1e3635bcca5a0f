"""Joining through the real gateway into the real sign-up API, accounts, billing and card
processor (PostgreSQL, NATS): a visitor becomes a signed-in member in one request; a replayed
request is answered once; a declined card or a refused trial leaves no account; a bank's second
step is confirmed; a renewal that keeps failing puts the member on hold in accounts too, and a
new card brings them back; and bad input of every kind is a 400 that creates nothing."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from tests.support.platform import Platform, running_platform, signup_services
from tests.support.waiting import wait_for

from reelcloud.apis.signup.service import MAX_KEY
from reelcloud.platform import pricing
from reelcloud.platform.rpc import RpcClient
from reelcloud.rpc import billing_pb2, billing_pb2_grpc
from reelcloud.services.payments.cards import Behaviour, card_number

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "correct horse battery"
DAY = 86_400
_serials = iter(range(1, 10**6))


def card(behaviour: Behaviour = Behaviour.APPROVE) -> dict[str, Any]:
    """Another card (a fresh number: each card has one free trial) of `behaviour`."""
    number = card_number(behaviour, serial=next(_serials))
    return {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def form(**change: Any) -> dict[str, Any]:
    return {
        "email": f"{uuid.uuid4().hex[:12]}@example.test",
        "password": PASSWORD,
        "name": "Harriet Jones",
        "country": "GB",
        "plan": "standard",
        "card": card(),
    } | change


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    services = [
        {"name": "accounts"},
        *signup_services({"controllable_clock": True}),
        {"name": "gateway", "layer": 5},
    ]
    with running_platform(
        tmp_path_factory.mktemp("signup"), services, engines=("postgres", "nats")
    ) as platform:
        yield platform


@pytest_asyncio.fixture(loop_scope="module")
async def billing(platform: Platform):
    discovery = await platform.discovery("billing", "signup-api", "accounts")
    client = RpcClient(discovery, "billing", billing_pb2_grpc.BillingStub)
    yield client
    await client.aclose()
    await discovery.aclose()


def visitor() -> aiohttp.ClientSession:
    # unsafe: keep cookies for an IP-address host, as a browser does for 127.0.0.1.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_up(
    http: aiohttp.ClientSession, base: str, body: dict[str, Any] | bytes, key: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Idempotency-Key": key} if key else {}
    if isinstance(body, bytes):
        request = http.post(f"{base}/api/signup", data=body, headers=headers)
    else:
        request = http.post(f"{base}/api/signup", json=body, headers=headers)
    async with request as reply:
        return reply.status, await reply.json()


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, json=body) as reply:
        return reply.status, await reply.json()


async def can_sign_in(base: str, email: str) -> bool:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/api/accounts/login", json={"email": email, "password": PASSWORD}
        ) as reply,
    ):
        return reply.status == 200


async def advance(billing: RpcClient, seconds: int) -> None:
    """Billing's clock moved ahead, and every renewal due by then run."""
    now = (await billing.call("RunRenewals", billing_pb2.RunRenewalsRequest(), timeout_s=30)).now
    await billing.call(
        "RunRenewals", billing_pb2.RunRenewalsRequest(until=now + seconds), timeout_s=60
    )


async def test_a_visitor_joins_with_a_trial_signed_in_at_once(platform):
    base = platform.gateway
    async with aiohttp.ClientSession() as http:
        status, plans = await call(http, "GET", f"{base}/api/signup/plans?country=gb")
    assert status == 200, plans
    assert (plans["currency"], plans["trial_days"]) == ("GBP", 30)
    offered = {p["name"]: p["price"]["amount_minor"] for p in plans["plans"]}
    assert offered == {
        name: pricing.PRICES[("GB", name)] for name in ("basic", "standard", "premium")
    }

    joining = form(email="Harriet.Jones@Example.test", country="gb")
    async with visitor() as http:
        status, answer = await sign_up(http, base, joining)
        assert status == 201, answer
        assert (answer["status"], answer["trial"]) == ("active", True)
        member = answer["member"]
        assert (member["email"], member["country"], member["status"]) == (
            "harriet.jones@example.test", "GB", "active",
        )  # fmt: skip
        assert member["plan"] == {"name": "standard", "max_height": 1080, "max_streams": 2}
        sub = answer["subscription"]
        assert (sub["status"], sub["currency"], sub["next_bill"]["amount_minor"]) == (
            "trialing", "GBP", pricing.PRICES[("GB", "standard")],
        )  # fmt: skip
        assert sub["trial_ends_at"] - sub["period_start"] == 30 * DAY
        # Signed in by the cookie the answer set: the account is the member's.
        status, account = await call(http, "GET", f"{base}/api/signup/account")
        assert status == 200, account
        assert account["member"]["id"] == member["id"]
        assert account["subscription"]["id"] == sub["id"]
        status, listed = await call(http, "GET", f"{base}/api/signup/account/invoices")
        assert (status, listed["invoices"]) == (200, [])  # nothing charged during a trial
        url = f"{base}/api/signup/account/plan"
        status, refused = await call(http, "POST", url, {"plan": "platinum"})
        assert (status, refused["error"]["code"]) == (400, "unknown_plan"), refused
        status, account = await call(http, "GET", f"{base}/api/signup/account")
        assert account["subscription"]["plan"] == "standard"

        # The email is taken now, whatever the case and the rest of the form.
        again = form(email="HARRIET.jones@example.test", name="Other")
        status, refused = await sign_up(http, base, again)
        assert (status, refused["error"]["code"]) == (409, "email_taken")
    assert await can_sign_in(base, "harriet.jones@example.test")


async def test_a_replayed_sign_up_is_answered_once_and_another_body_is_refused(platform, billing):
    base = platform.gateway
    key = f"join-{uuid.uuid4()}"
    paying = form(trial="none", plan="premium")
    async with visitor() as http:
        first_status, first = await sign_up(http, base, paying, key)
        assert first_status == 201, first
        again_status, again = await sign_up(http, base, paying, key)
        assert again_status == 201, again
        assert again["member"]["id"] == first["member"]["id"]
        assert again["payment"]["id"] == first["payment"]["id"]
        assert first["payment"]["status"] == "succeeded"
        status, listed = await call(http, "GET", f"{base}/api/signup/account/invoices")
        assert status == 200
        [invoice] = listed["invoices"]  # one charge, however often it was asked
        assert invoice["amount"]["amount_minor"] == pricing.PRICES[("GB", "premium")]
        # The same key with another plan is a client bug: refused, and nothing changed.
        status, refused = await sign_up(http, base, paying | {"plan": "basic"}, key)
        assert (status, refused["error"]["code"]) == (409, "idempotency_key_reused"), refused
        status, account = await call(http, "GET", f"{base}/api/signup/account")
        assert account["subscription"]["plan"] == "premium"
        # Without the key the same form is another sign-up, and the email is taken.
        status, refused = await sign_up(http, base, paying)
        assert (status, refused["error"]["code"]) == (409, "email_taken"), refused
    # Keys are the member's own (as a processor's are an account's): another visitor's form
    # under the same key is a sign-up of its own.
    async with visitor() as http:
        other = form(trial="none")
        status, answer = await sign_up(http, base, other, key)
        assert status == 201, answer
        assert answer["member"]["id"] != first["member"]["id"]


async def test_a_declined_card_leaves_no_account_and_the_email_free(platform):
    base = platform.gateway
    joining = form(trial="none", card=card(Behaviour.INSUFFICIENT_FUNDS))
    async with visitor() as http:
        status, refused = await sign_up(http, base, joining)
        assert (status, refused["error"]["code"]) == (402, "card_declined"), refused
        assert "insufficient" in refused["error"]["message"].lower()
        status, _ = await call(http, "GET", f"{base}/api/signup/account")
        assert status == 401  # no session was kept either
    assert not await can_sign_in(base, joining["email"])
    async with visitor() as http:  # the same email with a card that works
        status, answer = await sign_up(http, base, joining | {"card": card()})
        assert status == 201, answer
        assert answer["trial"] is False  # asked for no trial


async def test_a_used_trial_is_refused_when_required_and_charged_when_not(platform):
    base = platform.gateway
    shared = card()
    async with visitor() as http:
        status, first = await sign_up(http, base, form(card=shared))
        assert (status, first["trial"]) == (201, True), first
    second = form(card=shared, trial="required")
    async with visitor() as http:
        status, refused = await sign_up(http, base, second)
        assert (status, refused["error"]["code"]) == (409, "trial_already_used"), refused
    assert not await can_sign_in(base, second["email"])
    async with visitor() as http:
        status, paid = await sign_up(http, base, second | {"trial": "if_eligible"})
        assert (status, paid["trial"], paid["payment"]["status"]) == (201, False, "succeeded")
        assert paid["payment"]["amount"]["amount_minor"] == pricing.PRICES[("GB", "standard")]


async def test_a_banks_second_step_keeps_the_member_pending_until_confirmed(platform):
    base = platform.gateway
    async with visitor() as http:
        joining = form(trial="none", card=card(Behaviour.REQUIRES_ACTION))
        status, asked = await sign_up(http, base, joining)
        assert status == 202, asked
        assert (asked["status"], asked["member"]["status"]) == ("requires_action", "pending")
        status, account = await call(http, "GET", f"{base}/api/signup/account")
        assert (status, account["member"]["status"]) == (200, "pending")
        payment = asked["payment"]["id"]
        url = f"{base}/api/signup/account/payments/{payment}/confirm"
        status, confirmed = await call(http, "POST", url, {})
        assert status == 200, confirmed
        assert confirmed["payment"]["status"] == "succeeded"
        assert confirmed["subscription"]["status"] == "active"
        status, account = await call(http, "GET", f"{base}/api/signup/account")
        assert account["member"]["status"] == "active"
        # Confirming again changes nothing and charges nothing more.
        status, again = await call(http, "POST", url, {})
        assert status == 200, again
        status, listed = await call(http, "GET", f"{base}/api/signup/account/invoices")
        assert [i["status"] for i in listed["invoices"]] == ["paid"]


async def test_failed_renewals_put_the_member_on_hold_and_a_new_card_ends_it(platform, billing):
    """A trial on a card that declines: its first renewal fails, is retried after 1, 3 and 7
    days, and the subscription goes on hold; accounts follows billing's events, so the member
    is on hold there too (playback refuses them). A new card pays what is owed at once."""
    base = platform.gateway
    async with visitor() as http:
        status, answer = await sign_up(http, base, form(card=card(Behaviour.EXPIRED_CARD)))
        assert (status, answer["trial"]) == (201, True), answer
        await advance(billing, 30 * DAY + 60)
        status, account = await call(http, "GET", f"{base}/api/signup/account")
        assert account["subscription"]["status"] == "past_due"
        await advance(billing, 7 * DAY + 120)

        async def member_status() -> str:
            _, account = await call(http, "GET", f"{base}/api/signup/account")
            return str(account["member"]["status"])

        async def on_hold() -> bool:
            return await member_status() == "on_hold"

        await wait_for(on_hold, what="accounts has the member on hold")
        status, account = await call(http, "GET", f"{base}/api/signup/account")
        assert account["subscription"]["status"] == "on_hold"
        owed = account["subscription"]["balance_due"]["amount_minor"]
        assert owed == pricing.PRICES[("GB", "standard")]

        url = f"{base}/api/signup/account/plan"
        status, refused = await call(http, "POST", url, {"plan": "premium"})
        assert (status, refused["error"]["code"]) == (409, "subscription_on_hold"), refused

        url = f"{base}/api/signup/account/payment-method"
        status, paid = await call(http, "PUT", url, {"card": card()})
        assert status == 200, paid
        assert (paid["payment"]["status"], paid["subscription"]["status"]) == (
            "succeeded", "active",
        )  # fmt: skip
        assert paid["subscription"]["balance_due"]["amount_minor"] == 0

        async def active() -> bool:
            return await member_status() == "active"

        await wait_for(active, what="accounts has the member back")


async def test_the_account_is_only_the_signed_in_members(platform):
    base = platform.gateway
    async with aiohttp.ClientSession() as http:
        for method, path, body in (
            ("GET", "/api/signup/account", None),
            ("GET", "/api/signup/account/invoices", None),
            ("POST", "/api/signup/account/plan", {"plan": "basic"}),
            ("POST", "/api/signup/account/cancel", {}),
            ("PUT", "/api/signup/account/payment-method", {"card": card()}),
        ):
            status, refused = await call(http, method, f"{base}{path}", body)
            assert status == 401, (path, refused)
        forged = {"Authorization": "Bearer eyJzdWIiOiJtLWFsaWNlIn0.c2lnbmF0dXJl"}
        async with http.get(f"{base}/api/signup/account", headers=forged) as reply:
            assert reply.status == 401


BAD_SIGNUPS: list[tuple[str, dict[str, Any] | bytes, str]] = [
    ("empty", b"", "bad_request"),
    ("not json", b"{", "bad_request"),
    ("a list", b"[]", "bad_request"),
    ("no card", {"card": None}, "bad_request"),
    ("another field", {"admin": True}, "bad_request"),
    ("bad email", {"email": "not-an-email"}, "bad_request"),
    ("short password", {"password": "short"}, "bad_request"),
    ("huge password", {"password": "x" * 5000}, "bad_request"),
    ("empty name", {"name": ""}, "bad_request"),
    ("NUL in the name", {"name": "Zo\u0000e"}, "bad_request"),
    ("NUL in the email", {"email": "nul\u0000@example.test"}, "bad_request"),
    ("NUL in the password", {"password": "long\u0000enough"}, "bad_request"),
    ("a country's name", {"country": "Ireland"}, "bad_request"),
    ("a plan not sold", {"plan": "platinum"}, "unknown_plan"),
    ("a plan name too long", {"plan": "p" * 100}, "bad_request"),
    ("a country not sold", {"country": "XX"}, "country_not_sold"),
    ("another currency", {"currency": "USD"}, "currency_not_sold"),
    ("letters for a card", {"card": {**card(), "number": "4242abcd42424242"}}, "bad_request"),
    ("a card failing Luhn", {"card": {**card(), "number": "4242424242424241"}}, "invalid_card"),
    ("an expired card", {"card": {**card(), "exp_year": 2001}}, "invalid_card"),
    ("month 13", {"card": {**card(), "exp_month": 13}}, "bad_request"),
]


@pytest.mark.parametrize(
    ("change", "code"),
    [pytest.param(change, code, id=name) for name, change, code in BAD_SIGNUPS],
)
async def test_bad_sign_ups_are_400s_that_create_nothing(platform, change, code):
    base = platform.gateway
    joining = form()
    body = change if isinstance(change, bytes) else joining | change
    async with visitor() as http:
        status, refused = await sign_up(http, base, body)
        assert (status, refused["error"]["code"]) == (400, code), refused
        assert refused["error"]["message"]
        status, _ = await call(http, "GET", f"{base}/api/signup/account")
        assert status == 401  # not signed in: no member was made
    assert not await can_sign_in(base, joining["email"])


@pytest.mark.parametrize("key", ["x" * (MAX_KEY + 1), "spaces are not allowed", "semi;colon"])
async def test_a_bad_idempotency_key_is_refused_before_anything_is_made(platform, key):
    joining = form()
    async with visitor() as http:
        status, refused = await sign_up(http, platform.gateway, joining, key)
    assert (status, refused["error"]["code"]) == (400, "bad_idempotency_key"), refused
    assert not await can_sign_in(platform.gateway, joining["email"])


async def test_plans_of_a_country_not_sold_or_malformed_are_refused(platform):
    async with aiohttp.ClientSession() as http:
        for query, code in (("XX", "country_not_sold"), ("", "bad_request"),
                            ("GBR", "bad_request"), ("G%00", "bad_request")):  # fmt: skip
            status, refused = await call(
                http, "GET", f"{platform.gateway}/api/signup/plans?country={query}"
            )
            assert (status, refused["error"]["code"]) == (400, code), (query, refused)
