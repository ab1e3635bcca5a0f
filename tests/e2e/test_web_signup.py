"""Joining in a real browser (Debian's Chromium, headless, driven by Playwright) against the
real sign-up API, billing (its clock moved by RunRenewals) and card processor: a visitor picks
a country and sees the plans in its currency, joins with a free trial, plays at once, and the
trial's end shows as a paid renewal on the account page; a card whose free trial is used is
offered the first month now, a declined card is said next to the card fields and leaves no
account, and a bank's second step is confirmed on the page. Screenshots of the sign-up and
account pages go to docs/screenshots/."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc
import pytest
from playwright.sync_api import Page, Request, Response, expect
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    BrowserPlatform,
    browser_platform,
    chromium_user_dir,
    missing_prerequisites,
)
from tests.support.cli import ROOT
from tests.support.platform import signup_services

from reelcloud.platform import pricing
from reelcloud.platform.rpc.client import GRPC_PORT_KEY
from reelcloud.rpc import billing_pb2, billing_pb2_grpc
from reelcloud.services.payments.cards import Behaviour, card_number

SCREENSHOTS = ROOT / "docs" / "screenshots"
FEATURED = "Test Pattern Odyssey"  # licensed in US, GB, DE
DESKTOP = {"width": 1280, "height": 800}
APPROVED = "4242424242424242"
DECLINED = card_number(Behaviour.INSUFFICIENT_FUNDS)  # 4000009900000004
PASSWORD = "correct horse battery"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HOUR = 3600

expect.set_options(timeout=30_000)  # a loaded 2-core machine is slow, not wrong


def price(country: str, plan: str) -> str:
    """A plan's monthly price as the page should show it (pricing's own table)."""
    currency = pricing.CURRENCY_OF[country]
    return pricing.display(pricing.PRICES[(country, plan)], currency)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[BrowserPlatform]:
    missing = missing_prerequisites()
    assert not missing, "the browser tests need: " + "; ".join(missing)
    with browser_platform(
        tmp_path_factory.mktemp("signup"),
        {0: 12},
        more_services=signup_services({"controllable_clock": True}),
    ) as platform:
        yield platform


@dataclass
class Visitor:
    """A browser page (its language German: the sign-up page guesses the country from it) with
    the sign-up API's requests and answers it made."""

    page: Page
    site: BrowserPlatform
    signups: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self) -> None:
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "request",
            lambda r: (
                self.signups.append(r)
                if r.method == "POST" and r.url.endswith("/api/signup")
                else None
            ),
        )

    def open_signup(self) -> None:
        page = self.page
        page.goto(self.site.gateway + "/")
        page.get_by_role("link", name="Join").click()  # "New here? Join" on the sign-in page
        expect(page.get_by_role("heading", name="Join reelcloud")).to_be_visible()

    def choose_country(self, country: str) -> None:
        self.page.get_by_label("Country").select_option(country)
        expect(self.page.locator(".plan-card[data-plan=basic] .plan-price")).to_have_text(
            price(country, "basic")
        )

    def fill(self, email: str, number: str, name: str = "Harriet Jones") -> None:
        page = self.page
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Your name").fill(name)
        page.get_by_label("Card number").fill(number)
        page.get_by_label("CVC").fill("123")

    def submit(self, button: str = "#signup-submit") -> Response:
        with self.page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/api/signup")
        ) as reply:
            self.page.locator(button).click()
        return reply.value

    def account(self) -> dict[str, Any]:
        return dict(self.page.evaluate("fetch('/api/signup/account').then(r => r.json())"))


@pytest.fixture
def visitor(site, playwright_driver) -> Iterator[Visitor]:
    with chromium_user_dir() as profile_dir:
        context = playwright_driver.chromium.launch_persistent_context(
            profile_dir,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
            locale="de-DE",
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            visitor = Visitor(page, site)
            visitor.attach()
            yield visitor
            assert visitor.errors == [], visitor.errors  # no uncaught script errors on any page
        finally:
            context.close()


def in_thread(coroutine: Any) -> Any:
    """Playwright's sync API keeps an event loop in this thread: run `coroutine` in another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_renewals(site: BrowserPlatform, until: int) -> billing_pb2.RunRenewalsResponse:
    """Billing's clock moved to `until` and everything due by then run: billing found through
    the registry, called over gRPC as the platform's services call it."""

    async def run() -> billing_pb2.RunRenewalsResponse:
        discovery = await site.platform.discovery("billing")
        try:
            (instance,) = discovery.instances("billing")
            assert instance.ip_addr.startswith("127."), instance.ip_addr
            target = f"{instance.ip_addr}:{instance.metadata[GRPC_PORT_KEY]}"
            async with grpc.aio.insecure_channel(target) as channel:
                billing = billing_pb2_grpc.BillingStub(channel)
                return await billing.RunRenewals(
                    billing_pb2.RunRenewalsRequest(until=until), timeout=60
                )
        finally:
            await discovery.aclose()

    return in_thread(run())


def join_by_api(site: BrowserPlatform, email: str, number: str) -> dict[str, Any]:
    """Someone else joins with a free trial on card `number` (straight to the API): that card
    has had its trial."""

    async def join() -> dict[str, Any]:
        body = {
            "email": email, "password": PASSWORD, "name": "Earlier Member", "country": "GB",
            "plan": "basic", "trial": "required",
            "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        }  # fmt: skip
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{site.gateway}/api/signup", json=body) as reply,
        ):
            answer = await reply.json()
            assert reply.status == 201, answer
            return dict(answer)

    answer = in_thread(join())
    assert answer["trial"] is True
    return answer


def login_status(site: BrowserPlatform, email: str) -> int:
    async def login() -> int:
        body = {"email": email, "password": PASSWORD}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{site.gateway}/api/accounts/login", json=body) as reply,
        ):
            return reply.status

    return int(in_thread(login()))


def fresh_email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:10]}@example.test"


def test_a_visitor_joins_in_pounds_plays_and_the_trial_ends_in_a_paid_renewal(visitor):
    page, site = visitor.page, visitor.site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visitor.open_signup()

    # The country is guessed from the browser's language (de-DE): prices in euros.
    expect(page.get_by_label("Country")).to_have_value("DE")
    expect(page.locator(".plan-card[data-plan=standard] .plan-price")).to_have_text(
        price("DE", "standard")
    )
    # Great Britain: every plan in pounds, with its screens and best resolution.
    visitor.choose_country("GB")
    for plan, spec in pricing.PLANS.items():
        card = page.locator(f".plan-card[data-plan={plan}]")
        expect(card.locator(".plan-price")).to_have_text(price("GB", plan))
        assert card.locator(".plan-price").get_attribute("data-currency") == "GBP"
        facts = card.locator(".plan-facts").inner_text()
        assert f"{spec.max_streams} screen" in facts, facts
        assert f"{spec.max_height}p" in facts, facts
    assert page.locator(".plan-card input:checked").get_attribute("value") == "standard"
    expect(page.locator("#plan-note")).to_have_text(
        f"Free for 30 days, then {price('GB', 'standard')} a month. Cancel any time."
    )

    email = fresh_email("harriet")
    visitor.fill(email, APPROVED)
    page.screenshot(path=str(SCREENSHOTS / "signup.png"), full_page=True)

    # The first try never reaches the platform (the network fails): the page says so, and
    # the same submission again carries the same Idempotency-Key.
    page.route("**/api/signup", lambda route: route.abort("internetdisconnected"))
    page.locator("#signup-submit").click()
    expect(page.locator("#signup-error")).to_contain_text("Cannot reach reelcloud")
    page.unroute("**/api/signup")
    joined = visitor.submit()
    assert joined.status == 201, joined.text()
    answer = joined.json()
    assert (answer["status"], answer["trial"]) == ("active", True)
    assert answer["subscription"]["status"] == "trialing"
    keys = [r.headers.get("idempotency-key") for r in visitor.signups]
    assert len(keys) == 2, keys
    assert UUID.match(keys[0] or ""), keys
    assert keys[0] == keys[1], keys
    assert (visitor.signups[-1].post_data_json or {})["trial"] == "required"

    # Signed in at once (the answer's cookie): the new member's profiles, theirs then home.
    expect(page.get_by_role("heading", name="Who's watching?")).to_be_visible()
    assert sorted(page.locator(".profile-choice").all_inner_texts()) == [
        "H\nHarriet Jones",
        "K\nKids\nKids · G only",
    ]
    page.get_by_role("button", name="Harriet Jones", exact=True).click()
    page.wait_for_selector(".row .tile")
    assert page.locator(".row h2").first.inner_text() == "Popular in GB"

    # And can play: the player reaches its playing state.
    title_id = site.titles[FEATURED]["title_id"]
    page.goto(f"{site.gateway}/#/title/{title_id}")
    with page.expect_response("**/api/play") as reply:
        page.get_by_role("button", name="Play", exact=True).click()
    assert reply.value.status == 200, reply.value.text()
    expect(page.locator(".watch")).to_have_attribute("data-state", "playing")
    page.wait_for_function("document.querySelector('video').currentTime > 1", timeout=30_000)

    # The account page, from the home page's header: in the trial, no invoice yet.
    page.goto(f"{site.gateway}/#/home")
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_role("heading", name="Account", exact=True)).to_be_visible()
    expect(page.locator("[data-banner=trialing]")).to_contain_text("Free trial until ")
    assert page.locator("[data-fact=plan]").inner_text().startswith("Standard")
    assert price("GB", "standard") in page.locator("[data-fact=next-bill]").inner_text()
    assert page.locator("[data-fact=card]").inner_text().startswith("Visa ending 4242")
    assert page.locator("#invoices tbody tr").count() == 0
    switch = page.locator("[data-action=plan][data-plan=premium]")
    assert price("GB", "premium") in switch.inner_text()

    # The trial ends: billing's clock moved past it charges the first month.
    trial_ends_at = visitor.account()["subscription"]["trial_ends_at"]
    assert trial_ends_at > 0
    run_renewals(site, trial_ends_at + HOUR)
    page.reload()
    first = page.locator("#invoices tbody tr").first
    expect(first).to_have_attribute("data-kind", "renewal")
    expect(first).to_have_attribute("data-status", "paid")
    cells = first.locator("td").all_inner_texts()
    assert cells[1:] == ["Renewal", "Standard", price("GB", "standard"), "Paid", "—"], cells
    expect(page.locator("[data-fact=status]")).to_have_text("Active")
    assert page.locator("[data-banner=trialing]").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "account.png"), full_page=True)


def test_a_used_trial_is_offered_as_a_paid_month_and_a_declined_card_keeps_nothing(visitor):
    page, site = visitor.page, visitor.site
    join_by_api(site, fresh_email("earlier"), DECLINED)  # this card had its free trial
    visitor.open_signup()
    visitor.choose_country("GB")
    email = fresh_email("dora")
    visitor.fill(email, DECLINED, name="Dora Decline")

    refused = visitor.submit()
    assert refused.status == 409, refused.text()
    assert refused.json()["error"]["code"] == "trial_already_used"
    offer = page.locator("#trial-offer")
    expect(offer).to_contain_text("This email or card has already had a free trial")
    pay = page.get_by_role("button", name=f"Pay {price('GB', 'standard')} now")
    expect(pay).to_be_visible()

    declined = visitor.submit("#pay-now")
    assert declined.status == 402, declined.text()
    error = declined.json()["error"]
    assert error["code"] == "card_declined"
    assert "insufficient funds" in error["message"]
    # Said plainly next to the card; everything typed kept but the card number.
    expect(page.locator("#signup-card-error")).to_have_text(error["message"])
    expect(page.get_by_label("Card number")).to_have_value("")
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Password")).to_have_value(PASSWORD)
    expect(page.get_by_label("Your name")).to_have_value("Dora Decline")
    expect(page.get_by_label("CVC")).to_have_value("123")
    expect(page.get_by_label("Country")).to_have_value("GB")
    assert page.locator(".plan-card input:checked").get_attribute("value") == "standard"

    # Two submissions, two keys; the second asked for no trial.
    keys = [r.headers.get("idempotency-key") for r in visitor.signups]
    assert len(keys) == 2, keys
    assert keys[0] != keys[1], keys
    assert (visitor.signups[-1].post_data_json or {})["trial"] == "none"

    # Nothing was kept: those credentials sign in to nothing, in the page and at the API.
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_response("**/api/accounts/login") as login:
        page.get_by_role("button", name="Sign in").click()
    assert login.value.status == 401
    expect(page.get_by_role("alert")).to_have_text(
        "That email and password don't match an account."
    )
    assert login_status(site, email) == 401


def test_a_bank_asking_for_a_second_step_is_confirmed_on_the_page(visitor):
    page, site = visitor.page, visitor.site
    second_step = card_number(Behaviour.REQUIRES_ACTION, serial=1)
    join_by_api(site, fresh_email("earlier"), second_step)  # no trial on it any more
    visitor.open_signup()
    visitor.choose_country("GB")
    visitor.fill(fresh_email("sam"), second_step, name="Sam Second")
    assert visitor.submit().status == 409
    asked = visitor.submit("#pay-now")
    assert asked.status == 202, asked.text()
    assert asked.json()["status"] == "requires_action"

    expect(
        page.get_by_role("heading", name="Your bank asks you to confirm this payment")
    ).to_be_visible()
    expect(page.locator("#signup-outcome")).to_contain_text(price("GB", "standard"))

    # Until then the member is signed in but may not play: the player says why and links to
    # the account page, which says the first payment isn't finished (another tab, same session).
    other = page.context.new_page()
    other.on("pageerror", lambda e: visitor.errors.append(str(e)))
    other.goto(f"{site.gateway}/#/profiles")
    other.get_by_role("button", name="Sam Second", exact=True).click()
    other.wait_for_selector(".row .tile")
    with other.expect_response("**/api/play") as play:
        other.goto(f"{site.gateway}/#/watch/{site.titles[FEATURED]['title_id']}?from=0")
    assert play.value.status == 403, play.value.text()
    assert play.value.json()["error"]["code"] == "membership_incomplete"
    expect(other.locator("#player-message-heading")).to_have_text("Finish signing up")
    expect(other.get_by_role("alert")).to_contain_text(play.value.json()["error"]["message"])
    other.get_by_role("link", name="Go to your account").click()
    expect(other.locator("[data-banner=incomplete]")).to_contain_text(
        "first payment isn't finished"
    )
    other.close()

    with page.expect_response("**/confirm") as confirmed:
        page.get_by_role("button", name="Confirm").click()
    assert confirmed.value.status == 200, confirmed.value.text()
    assert confirmed.value.request.headers.get("idempotency-key")

    # Signed in and paid: home (the profile was chosen in the other tab), and the account
    # shows the first month's invoice.
    page.wait_for_selector(".row .tile")
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.locator("[data-fact=status]")).to_have_text("Active")
    first = page.locator("#invoices tbody tr").first
    expect(first).to_have_attribute("data-status", "paid")
    assert first.locator("td[data-col=amount]").inner_text() == price("GB", "standard")


def test_the_account_page_changes_plan_cancels_rejoins_and_takes_a_new_card(visitor):
    page, site = visitor.page, visitor.site
    joined = join_by_api(site, fresh_email("ada"), card_number(Behaviour.APPROVE, serial=2))
    page.context.add_cookies([{"name": "session", "value": joined["token"], "url": site.gateway}])
    page.goto(f"{site.gateway}/#/account")
    expect(page.locator("[data-fact=status]")).to_have_text("Free trial")
    message = page.locator("#account-message")

    # Each action says what happened, and the page is read again after it.
    new_card = card_number(Behaviour.APPROVE, serial=3)
    page.get_by_label("Card number").fill(new_card)
    page.get_by_label("CVC").fill("321")
    page.get_by_role("button", name="Save card").click()
    expect(page.locator("[data-fact=card]")).to_contain_text(f"ending {new_card[-4:]}")
    expect(message).not_to_be_empty()
    expect(page.get_by_label("Card number")).to_have_value("")

    page.locator("[data-action=plan][data-plan=premium]").click()  # an upgrade: at once
    expect(page.locator("[data-fact=plan]")).to_contain_text("Premium")
    expect(message).not_to_be_empty()
    page.locator("[data-action=plan][data-plan=basic]").click()  # a downgrade: from period end
    expect(page.locator("[data-banner=pending_plan]")).to_contain_text("Changes to Basic on ")
    assert page.locator("[data-fact=plan]").inner_text().startswith("Premium")

    page.locator("[data-action=cancel]").click()
    expect(page.locator("[data-banner=cancel_at_period_end]")).to_contain_text("Ends on ")
    assert page.locator("[data-action=plan]").count() == 0  # nothing to change on the way out
    expect(message).to_contain_text("Your membership ends on ")
    page.locator("[data-action=rejoin]").click()
    expect(page.locator("[data-banner=cancel_at_period_end]")).to_have_count(0)
    expect(page.locator("[data-action=cancel]")).to_be_visible()
    assert page.locator("#account-error").inner_text() == ""
