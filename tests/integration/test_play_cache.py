"""The Play API's lookups through the zone-replicated cache, on the running platform: the
launcher's memcached in each zone, two Play API instances (one per zone), the whole play path.

Answers are fresh for half a second here, so plays keep reading memcached (and calling the
services) instead of living on their near caches: a zone's memcached killed in the middle of
a run of plays, and catalog stopped, are both felt — and neither fails a play.
"""

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import aiomcache
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from tests.support.cli import reelcloud, status, wait_status
from tests.support.factories import free_port, openconnect_dict
from tests.support.platform import all_up, running_platform
from tests.support.titles import publish_title, wait_playable
from tests.support.waiting import wait_for

from reelcloud.platform.session_tokens import verify

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISP_A_CLIENT = "127.10.0.5"
FRESH_S = 0.5
PLAYS = 60


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("play-cache")
    openconnect = openconnect_dict(port=free_port())
    for oca in openconnect["ocas"]:
        oca["fill_window"] = ["00:00", "00:00"]
    short = {
        "title_cache_s": FRESH_S,
        "member_cache_s": FRESH_S,
        "account_cache_s": FRESH_S,
        "steering_cache_s": FRESH_S,
    }
    services = [
        {"name": "accounts"},
        {"name": "catalog", "options": {"sweep_interval_s": 1}},
        {"name": "playback"},
        {"name": "license"},
        {"name": "cache-control", "options": {"catalog_refresh_s": 0.5, "escalation_s": 2}},
        {"name": "steering", "layer": 2, "options": {"state_poll_s": 0.2}},
        {"name": "play-api", "layer": 3, "instances": 2, "options": short},
        {"name": "gateway", "layer": 4},
    ]
    with running_platform(
        tmp,
        services,
        engines=("postgres", "nats", "seaweedfs", "memcached"),
        openconnect=openconnect,
    ) as platform:
        yield platform


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def title_id(platform, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("titles")
    title = await publish_title(platform, tmp, "Cached", ["US"])
    await wait_playable(
        platform, title["title_id"], source_address=ISP_A_CLIENT, email="alice@reelcloud.test"
    )
    return title["title_id"]


def session_from(address=ISP_A_CLIENT):
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(address, 0)),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def sign_in(http, gateway, who="alice"):
    body = {"email": f"{who}@reelcloud.test", "password": "reelcloud"}
    async with http.post(f"{gateway}/api/accounts/login", json=body) as reply:
        assert reply.status == 200, await reply.text()
        return (await reply.json())["token"]


async def play_once(http, base, headers, title_id, who="alice"):
    """A play and its stop (so the member's stream slots never run out); the play's status
    and body."""
    body = {"title_id": title_id, "profile_id": f"p-{who}", "device_id": f"d-{who}-browser"}
    async with http.post(f"{base}/api/play", json=body, headers=headers) as reply:
        answer = await reply.json()
        if reply.status != 200:
            return reply.status, answer
    async with http.post(
        base + answer["stop_url"], json={"position_s": 1}, headers=headers
    ) as reply:
        assert reply.status == 200, await reply.text()
    return 200, answer


def play_api_instances(data_dir: Path) -> list[dict]:
    return [i for i in status(data_dir)["instances"] if i["service"] == "play-api"]


async def cache_metrics(address: str) -> dict[tuple[str, ...], float]:
    """The Play API instance's cache counters: (metric, kind or event, source or zone) -> n."""
    async with aiohttp.ClientSession() as http, http.get(f"http://{address}/metrics") as reply:
        text = await reply.text()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "reelcloud_cache_lookups_total":
                labels = sample.labels
                found["lookups", labels["kind"], labels["source"]] = sample.value
            elif sample.name == "reelcloud_cache_events_total":
                labels = sample.labels
                found["events", labels["event"], labels["zone"]] = sample.value
    return found


@contextmanager
def kept_killed(data_dir: Path, engine: str) -> Iterator[list[int]]:
    """SIGKILL the engine now and every copy the launcher restarts until the block ends (it
    restarts a killed engine within 0.5 s). Yields the pids killed."""
    current = next(e for e in status(data_dir)["engines"] if e["name"] == engine)
    port = current["url"].rsplit(":", 1)[1]
    marker = b"memcached\0--listen\0127.0.0.1\0--port\0" + port.encode() + b"\0"
    killed: list[int] = []
    done = threading.Event()

    def kill_all(pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    launcher = status(data_dir)["launcher_pid"]

    def keep_killing() -> None:
        while not done.wait(0.05):
            kill_all(children_of(launcher, marker))

    kill_all([current["pid"]])
    killer = threading.Thread(target=keep_killing, daemon=True)
    killer.start()
    try:
        yield killed
    finally:
        done.set()
        killer.join()


def children_of(parent: int, marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def engines_running(current: dict) -> bool:
    return all(e["process"] == "running" for e in current["engines"])


async def scale(platform, service, count):
    result = await asyncio.to_thread(
        reelcloud, "scale", service, str(count), "--data-dir", str(platform.data_dir)
    )
    assert result.returncode == 0, result.stderr


async def test_answers_reach_the_memcached_of_both_zones(platform, title_id):
    async with session_from() as http:
        token = await sign_in(http, platform.gateway)
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(4):
            status_code, played = await play_once(http, platform.gateway, headers, title_id)
            assert status_code == 200, played
    engines = {e["name"]: e for e in status(platform.data_dir)["engines"]}
    for name in ("memcached-z1-1", "memcached-z2-1"):
        host, port = engines[name]["url"].rsplit(":", 1)
        client = aiomcache.Client(host, int(port))
        try:
            stats = await client.stats()
        finally:
            await client.close()
        # member, profile, device, title and steering answers at least
        assert int(stats[b"curr_items"]) >= 5, (name, stats[b"curr_items"])


async def test_plays_go_on_while_a_zones_memcached_is_killed(platform, title_id):
    statuses = []
    async with session_from() as http:
        token = await sign_in(http, platform.gateway)
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(10):
            statuses.append((await play_once(http, platform.gateway, headers, title_id))[0])
        with kept_killed(platform.data_dir, "memcached-z1-1") as killed:
            for _ in range(PLAYS - 10):
                status_code, answer = await play_once(http, platform.gateway, headers, title_id)
                statuses.append(status_code)
                assert status_code == 200, answer
        assert killed, "memcached-z1-1 was never killed"
    assert statuses == [200] * PLAYS
    # The dead zone was felt (reads and writes to z1 failed, or skipped it), and survived.
    felt = 0.0
    for instance in play_api_instances(platform.data_dir):
        metrics = await cache_metrics(instance["address"])
        felt += sum(
            metrics.get(("events", event, "z1"), 0)
            for event in ("read_errors", "skipped_reads", "write_failures", "skipped_writes")
        )
    assert felt > 0
    await asyncio.to_thread(wait_status, platform.data_dir, engines_running, 60)


async def test_with_catalog_stopped_plays_of_a_played_title_continue_from_the_cache(
    platform, title_id
):
    async with session_from() as http:
        token = await sign_in(http, platform.gateway)
        headers = {"Authorization": f"Bearer {token}"}
        status_code, played = await play_once(http, platform.gateway, headers, title_id)
        assert status_code == 200, played
        await scale(platform, "catalog", 0)
        try:
            for _ in range(20):  # the Play API instances that played it: near, then memcached
                status_code, answer = await play_once(http, platform.gateway, headers, title_id)
                assert status_code == 200, answer

            # A new Play API instance never saw the title: it can only come from memcached.
            await scale(platform, "play-api", 3)
            newcomer = next(
                i for i in play_api_instances(platform.data_dir) if i["id"].endswith(":3")
            )
            claims = verify(platform.secrets().session_secret, token)
            direct = {
                "X-Reelcloud-Member": claims["sub"],
                "X-Reelcloud-Session": claims["sid"],
                "X-Forwarded-For": ISP_A_CLIENT,
            }
            base = f"http://{newcomer['address']}"

            async def first_play():
                # Until its discovery client has fetched the registry (accounts, playback…).
                code, _ = await play_once(http, base, direct, title_id)
                return code == 200

            await wait_for(first_play, what="the new Play API instance answers a play")
            for _ in range(5):
                status_code, answer = await play_once(http, base, direct, title_id)
                assert status_code == 200, answer
            metrics = await cache_metrics(newcomer["address"])
            from_cache = metrics.get(("lookups", "title", "replica"), 0) + metrics.get(
                ("lookups", "title", "stale"), 0
            )
            assert from_cache > 0, metrics
            assert metrics.get(("lookups", "title", "origin"), 0) == 0, metrics
        finally:
            await scale(platform, "catalog", 1)
            await scale(platform, "play-api", 2)
            await asyncio.to_thread(wait_status, platform.data_dir, all_up, 60)
