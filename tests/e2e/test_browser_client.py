"""The web client in a real browser (Debian's Chromium, headless, driven by Playwright): sign in,
browse, open a title, play it through hls.js from the OCAs steering chose for the browser's
simulated network; an OCA killed mid-play, an OCA that stops reporting, a denied play, DASH mode,
a phone-width page. Screenshots of home, title page and player go to docs/screenshots/."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Response
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    BrowserPlatform,
    browser_platform,
    chromium_user_dir,
    missing_prerequisites,
)
from tests.support.cli import ROOT
from tests.support.waiting import wait_for, wait_for_sync

from reelcloud.platform.assets import manifest_key
from reelcloud.platform.events import EventConsumer
from reelcloud.platform.storage import ASSETS_BUCKET

SCREENSHOTS = ROOT / "docs" / "screenshots"
FEATURED = "Test Pattern Odyssey"  # 30 s, licensed in US, GB, DE
DESKTOP = {"width": 1280, "height": 720}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[BrowserPlatform]:
    missing = missing_prerequisites()
    assert not missing, "the browser tests need: " + "; ".join(missing)
    # The played title is 30 s long; two short ones fill the rows (one not licensed in the US).
    with browser_platform(tmp_path_factory.mktemp("browser"), {0: 30, 1: 4, 2: 4}) as platform:
        yield platform


@dataclass
class Viewer:
    """A browser page with what it fetched: OCA segments (host, when), steering manifests,
    heartbeats and stops."""

    page: Page
    site: BrowserPlatform
    segments: list[tuple[float, str, str]] = field(default_factory=list)  # (t, host, path)
    steering: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    beats: list[tuple[float, str, int]] = field(default_factory=list)  # (t, url, status)
    errors: list[str] = field(default_factory=list)

    def attach(self) -> None:
        self.page.on("response", self._response)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _response(self, response: Response) -> None:
        parts = urlsplit(response.url)
        path = parts.path
        if path.startswith("/v/") and ".m4s" in path and response.ok:  # served by an OCA
            self.segments.append((time.monotonic(), parts.netloc, path))
        elif path == "/steering/v1/manifest":
            with contextlib.suppress(Exception):  # a manifest answered during teardown
                self.steering.append((time.monotonic(), response.json()))
        elif path.endswith(("/heartbeat", "/stop")):
            self.beats.append((time.monotonic(), path, response.status))

    def sign_in(self, who: str = "alice", profile: str | None = None) -> None:
        page = self.page
        page.goto(self.site.gateway + "/")
        page.get_by_label("Email").fill(f"{who}@reelcloud.test")
        page.get_by_label("Password").fill("reelcloud")
        page.get_by_role("button", name="Sign in").click()
        page.locator(f"[data-profile='{profile or 'p-' + who}']").click()
        page.wait_for_selector(".row .tile")

    def title_id(self, name: str) -> str:
        return str(self.site.titles[name]["title_id"])

    def current_time(self) -> float:
        return float(self.page.evaluate("document.querySelector('video')?.currentTime ?? 0"))

    def wait_for_time(self, seconds: float, timeout_s: float = 30) -> None:
        self.page.wait_for_function(
            f"(document.querySelector('video')?.currentTime ?? 0) > {seconds}",
            timeout=timeout_s * 1000,
        )

    def buffered_end(self) -> float:
        """How far the video is buffered, in media seconds."""
        return float(
            self.page.evaluate(
                "(b => b.length ? b.end(b.length - 1) : 0)(document.querySelector('video').buffered)"
            )
        )

    def hosts_since(self, t: float) -> list[str]:
        return [host for at, host, _ in self.segments if at >= t]

    def until(self, condition: Any, what: Any, timeout_s: float = 30) -> Any:
        """Poll `condition` while the page runs (its events keep arriving between polls)."""
        return wait_for_sync(
            condition,
            what=what,
            timeout_s=timeout_s,
            interval_s=0.1,
            pause=lambda s: self.page.wait_for_timeout(s * 1000),
        )


@pytest.fixture
def viewer(site, playwright_driver) -> Iterator[Viewer]:
    with chromium_user_dir() as profile_dir:
        context = playwright_driver.chromium.launch_persistent_context(
            profile_dir,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            viewer = Viewer(page, site)
            viewer.attach()
            yield viewer
            assert viewer.errors == [], viewer.errors  # no uncaught script errors on any page
        finally:
            context.close()


def play_events(site: BrowserPlatform, play_id: str, wanted: set[str]) -> dict[str, list]:
    """The play's events from the stream (heartbeats and stop carry position and QoE)."""

    async def read() -> dict[str, list]:
        consumer = EventConsumer(
            site.platform.env()["REELCLOUD_NATS_URL"],
            f"browser-{play_id}-{time.monotonic_ns()}",
            subject="events.play.>",
        )
        await consumer.start()
        seen: dict[str, list] = {}
        try:

            async def all_arrived() -> bool:
                for envelope, message in await consumer.fetch(batch=500, timeout_s=0.5):
                    if envelope.payload.get("play_id") == play_id:
                        seen.setdefault(envelope.type, []).append(envelope.payload)
                    await message.ack()
                return wanted <= set(seen)

            await wait_for(
                all_arrived,
                what=lambda: (
                    f"play {play_id}'s {sorted(wanted)} events arrive (got {sorted(seen)})"
                ),
                interval_s=0,
            )
        finally:
            await consumer.aclose()
        return seen

    # Playwright's sync API keeps an event loop in this thread: read from another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result()


def start_play(viewer: Viewer, title: str, query: str = "") -> dict[str, Any]:
    """Opens the player at the start of `title`; returns the Play API's answer."""
    page = viewer.page
    url = f"{viewer.site.gateway}/#/watch/{viewer.title_id(title)}?from=0{query}"
    with page.expect_response("**/api/play") as reply:
        page.goto(url)
    assert reply.value.status == 200, reply.value.text()
    return dict(reply.value.json())


def test_sign_in_browse_and_play_from_the_first_choice_oca(viewer):
    page, site = viewer.page, viewer.site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    viewer.sign_in("alice")

    # Home: rows of artwork made at encode time; a title not licensed in the US says so.
    page.wait_for_function(
        "[...document.querySelectorAll('.tile img')].length >= 3 &&"
        " [...document.querySelectorAll('.tile img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    rows = page.locator(".row h2").all_inner_texts()
    assert rows[0] == "Popular in US"
    assert {"Sci-Fi", "Thriller", "Comedy"} <= set(rows)
    assert page.locator(".tile.unavailable").first.get_attribute("aria-label") == (
        "Life, Uh, Finds a Way (not available in your country)"
    )
    page.screenshot(path=str(SCREENSHOTS / "home.png"))

    # Search filters the catalog.
    page.get_by_label("Search titles").fill("mandel")
    page.wait_for_function("location.hash.startsWith('#/search')")
    page.wait_for_selector("text=Results for “mandel”")
    assert page.locator(".grid .tile").all_inner_texts() == ["The Mandelbrot Heist"]

    # Title page: synopsis, year, maturity, availability in the member's country.
    page.goto(f"{site.gateway}/#/title/{viewer.title_id(FEATURED)}")
    page.wait_for_selector("#title-name")
    assert page.locator("#title-name").inner_text() == FEATURED
    assert page.locator(".synopsis").inner_text() == "A voyage through the colour bars."
    facts = page.locator(".facts").inner_text()
    assert "2021" in facts
    assert "PG" in facts
    assert page.locator(".availability").inner_text() == "Available in United States"
    page.screenshot(path=str(SCREENSHOTS / "title.png"))

    # Play (ISP A is the default network): segments from steering's first choice, in ISP A.
    with page.expect_response("**/api/play") as reply:
        page.get_by_role("button", name="Play", exact=True).click()
    played = reply.value.json()
    first = played["ocas"][0]["oca_id"]
    assert first.startswith("oca-a-"), played["ocas"]
    viewer.wait_for_time(5.0)
    hosts = viewer.hosts_since(0)
    assert len(hosts) >= 3
    assert set(hosts) == {site.oca_host(first)}, hosts

    # Keyboard: space pauses and resumes; S shows the stats overlay with the pathway.
    page.keyboard.press("Space")
    page.wait_for_function("document.querySelector('video').paused")
    page.keyboard.press("Space")
    page.wait_for_function("!document.querySelector('video').paused")
    page.keyboard.press("s")
    overlay = page.locator(".stats")
    overlay.wait_for(state="visible")
    page.wait_for_function(
        "document.querySelector('[data-stat=bitrate]')?.textContent.includes('kbps')"
    )
    assert page.locator("[data-stat=pathway]").inner_text() == first
    assert page.locator("[data-stat=oca]").inner_text() == site.oca_host(first)
    assert "dropped" in page.locator("[data-stat=frames]").inner_text()
    page.mouse.move(640, 400)  # the controls show while the mouse moves
    page.screenshot(path=str(SCREENSHOTS / "player.png"))

    # A heartbeat was recorded: the Play API accepted it and it is on the event stream.
    viewer.until(
        lambda: any(path.endswith("/heartbeat") and code == 200 for _, path, code in viewer.beats),
        what=lambda: f"the Play API accepts a heartbeat (answers so far: {viewer.beats})",
    )
    events = play_events(site, played["play_id"], {"play.started", "play.heartbeat"})
    beat = events["play.heartbeat"][0]
    assert beat["qoe"]["startup_ms"] > 0
    assert beat["qoe"]["pathway"] == first

    # Leaving the player stops the play (its stream slot freed) and keeps a bookmark.
    page.get_by_role("button", name="Back to browsing").click()
    page.wait_for_selector("#title-name")  # back where Play was pressed
    page.get_by_role("link", name="Home", exact=True).click()
    page.wait_for_selector(".row .tile")
    assert page.locator(".row h2").first.inner_text() == "Continue watching for Alice"
    stopped = play_events(site, played["play_id"], {"play.stopped"})["play.stopped"][0]
    assert stopped["position_s"] > 5


def test_an_oca_killed_mid_play_fails_over_without_a_stall(viewer):
    site = viewer.site
    viewer.sign_in("alice")
    played = start_play(viewer, FEATURED, "&buffer=4")  # a short forward buffer
    viewer.wait_for_time(4.0)
    serving = viewer.segments[-1][1]
    assert serving == site.oca_host(played["ocas"][0]["oca_id"])
    killed = site.oca_of_host(serving)
    killed_at = time.monotonic()
    with site.kept_down(killed):  # kill -9, and again whenever the launcher restarts it
        # Without a stall: the next OCA answers before playback uses up what was buffered
        # when the serving one died (in media time, whatever the machine's speed).
        played_at_kill, buffered_at_kill = viewer.current_time(), viewer.buffered_end()
        viewer.until(
            lambda: [h for h in viewer.hosts_since(killed_at) if h != serving],
            what="a segment comes from another OCA after the kill",
        )
        assert viewer.current_time() < buffered_at_kill, (played_at_kill, buffered_at_kill)
        viewer.wait_for_time(played_at_kill + 6.0, timeout_s=60)  # and playback goes on
    after = viewer.hosts_since(killed_at + 0.5)
    assert after, "no segment was fetched after the OCA died"
    assert serving not in after
    assert site.oca_of_host(after[-1]) in [o["oca_id"] for o in played["ocas"][1:]]

    qoe = viewer.page.evaluate("window.reelcloudPlayer.qoe()")
    assert qoe["pathway_changes"] >= 1
    assert qoe["pathway"] != killed
    viewer.page.get_by_role("button", name="Back to browsing").click()
    stopped = play_events(site, played["play_id"], {"play.stopped"})["play.stopped"][0]
    assert stopped["qoe"]["pathway_changes"] >= 1
    assert stopped["qoe"]["pathways_seen"].startswith(killed + ">")


def test_an_oca_that_stops_reporting_leaves_the_steering_manifest_and_the_player(viewer):
    page, site = viewer.page, viewer.site
    viewer.sign_in("alice")
    page.get_by_label("Network").select_option("isp-b")  # the network selector
    played = start_play(viewer, FEATURED, "&buffer=6")
    first = played["ocas"][0]["oca_id"]
    assert first.startswith("oca-b-"), played["ocas"]
    viewer.wait_for_time(3.0)
    assert set(viewer.hosts_since(0)) == {site.oca_host(first)}
    viewer.until(lambda: viewer.steering, what="the player fetches a steering manifest")
    assert viewer.steering[-1][1]["PATHWAY-PRIORITY"][0] == first

    pid = site.kill(first, signal.SIGSTOP)  # hung: no reports (and no answers)
    stopped_at = time.monotonic()
    try:
        dropped = viewer.until(
            lambda: [
                (t, m)
                for t, m in viewer.steering
                if t > stopped_at and first not in m["PATHWAY-PRIORITY"]
            ],
            what=lambda: (
                f"a steering manifest without {first} "
                f"(last: {[m for _, m in viewer.steering[-3:]]})"
            ),
        )
        dropped_at, manifest = dropped[0]
        assert manifest["PATHWAY-PRIORITY"][0].startswith("oca-b-")  # its site peer
        page.wait_for_function("window.reelcloudPlayer.qoe().pathway_changes >= 1", timeout=30_000)
        moved_to = viewer.page.evaluate("window.reelcloudPlayer.qoe().pathway")
        assert moved_to != first
        viewer.until(
            lambda: viewer.hosts_since(dropped_at + 0.5),
            what="a segment is fetched after the steering change",
        )
        assert site.oca_host(first) not in viewer.hosts_since(dropped_at + 0.5)
        before = viewer.current_time()
        viewer.until(lambda: viewer.current_time() > before, what="the video keeps playing")
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_title_not_licensed_in_the_members_country_is_refused_clearly(viewer):
    page, site = viewer.page, viewer.site
    viewer.sign_in("eve")  # Brazil
    page.goto(f"{site.gateway}/#/title/{viewer.title_id(FEATURED)}")
    availability = page.locator(".availability")
    availability.wait_for()
    assert availability.inner_text().startswith("Not available in Brazil")
    with page.expect_response("**/api/play") as reply:
        page.get_by_role("button", name="Play", exact=True).click()
    assert reply.value.status == 403
    message = page.get_by_role("alert")
    message.wait_for()
    assert page.locator("#player-message-heading").inner_text() == "Not available in your country"
    assert "isn't licensed for streaming in Brazil" in message.inner_text()
    assert page.locator(".watch").get_attribute("data-state") == "denied"
    assert page.evaluate("document.querySelector('video').currentSrc") == ""
    assert viewer.segments == []


def test_dash_mode_plays_from_the_first_choice_oca(viewer):
    site = viewer.site
    viewer.sign_in("alice")
    played = start_play(viewer, FEATURED, "&mode=dash")
    viewer.wait_for_time(3.0)
    assert viewer.page.locator(".watch").get_attribute("data-mode") == "dash"
    hosts = viewer.hosts_since(0)
    assert hosts
    assert set(hosts) == {site.oca_host(played["ocas"][0]["oca_id"])}, hosts


def test_phone_width_keeps_the_page_inside_the_screen(viewer):
    page = viewer.page
    page.set_viewport_size({"width": 390, "height": 844})
    viewer.sign_in("alice")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.get_by_label("Search titles").is_visible()
    first_tile = page.locator(".row .tile").first.bounding_box()
    assert first_tile is not None
    assert 100 < first_tile["width"] < 390
    # Focus starts on the featured title's Play, then its More info, then the rows' tiles.
    focused = "document.activeElement.textContent"
    assert page.evaluate(focused) == "Play"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "More info"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('tile')")


def publish_coming_soon(site: BrowserPlatform) -> str:
    """A copy of the featured title under a new id whose segments are on no OCA and not on the
    origin either: listed by the catalog, never playable."""
    manifest = json.loads(json.dumps(site.titles[FEATURED]))
    title_id = "coming-attraction"
    manifest["title_id"] = title_id
    manifest["metadata"] = {**manifest["metadata"], "title": "Coming Attraction", "popularity": 0}
    for file in manifest["files"]:  # every rung's segments and the audio's: any play needs one
        if file["name"].startswith("enc-seg-"):
            file["content_id"] = hashlib.sha256(
                f"never uploaded {file['name']}".encode()
            ).hexdigest()

    async def put() -> None:
        origin = await site.platform.origin()
        try:
            await origin.put(ASSETS_BUCKET, manifest_key(title_id), json.dumps(manifest).encode())
        finally:
            await origin.aclose()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps this thread's loop
        pool.submit(asyncio.run, put()).result()
    return title_id


def test_a_title_no_oca_holds_yet_is_coming_soon_and_its_play_is_refused_clearly(viewer):
    page, site = viewer.page, viewer.site
    title_id = publish_coming_soon(site)
    viewer.sign_in("alice")
    listed = f"fetch('/api/catalog/titles/{title_id}').then(r => r.ok ? r.json() : {{}})"
    viewer.until(
        lambda: page.evaluate(listed).get("availability") == "coming_soon",
        what=f"the catalog lists {title_id} as coming soon",
        timeout_s=60,
    )
    page.goto(f"{site.gateway}/#/home")
    page.reload()  # the home page's listing, now with the new title
    tile = page.locator(f".tile[data-title='{title_id}']").first
    tile.wait_for()
    assert "coming-soon" in (tile.get_attribute("class") or "").split()
    assert tile.get_attribute("aria-label") == "Coming Attraction (coming soon)"
    assert tile.locator(".badge.soon").inner_text() == "Coming soon"

    # Its page says so, and offers no Play.
    tile.click()
    notice = page.locator("#coming-soon")
    notice.wait_for()
    assert notice.inner_text().startswith("Coming soon.")
    assert page.locator("#play-button").count() == 0
    assert page.locator(".availability").count() == 0  # not "Available in …" next to it

    # A play asked for anyway (a stale page, a bookmark) is refused with a clear message.
    with page.expect_response("**/api/play") as reply:
        page.goto(f"{site.gateway}/#/watch/{title_id}?from=0")
    assert reply.value.status == 409
    assert reply.value.json()["error"]["code"] == "not_yet_available"
    page.get_by_role("alert").wait_for()
    assert page.locator("#player-message-heading").inner_text() == "Coming soon"
    assert "isn't ready to stream yet" in page.get_by_role("alert").inner_text()
    assert page.locator(".watch").get_attribute("data-state") == "not-yet"
    assert viewer.segments == []
