"""Browser tests: Debian's Chromium driven by Playwright for Python (no `playwright install`:
it cannot download here), and a platform with Open Connect and demo titles for it to play."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from reelcloud.encoding.demo import DEMO_TITLES, make_source
from reelcloud.encoding.pipeline import ingest
from tests.support.cli import ROOT, cli_env
from tests.support.platform import Platform, kept_down, oca_processes, play_path_platform
from tests.support.titles import ingest_settings, licence
from tests.support.waiting import wait_for

CHROMIUM = Path("/usr/bin/chromium")
# What the reference found to work headless on these machines (no GPU, no internet).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
WEB = ROOT / "web"
PLAYER_LIBRARIES = (
    WEB / "node_modules/hls.js/dist/hls.min.js",
    WEB / "node_modules/dashjs/dist/modern/umd/dash.all.min.js",
)
NETWORKS = {"isp-a": "127.10.0.7", "isp-b": "127.20.0.7"}


def missing_prerequisites() -> list[str]:
    """What a browser test needs that this machine lacks, said plainly."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (`make test` installs Debian's chromium)")
    for library in PLAYER_LIBRARIES:
        if not library.exists():
            missing.append(f"{library.relative_to(ROOT)} (`make test` runs npm ci in web/)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright for Python (pip install -e '.[dev]')")
    return missing


@contextmanager
def chromium_user_dir() -> Iterator[str]:
    """A fresh profile for every launch: nothing cached between tests."""
    path = tempfile.mkdtemp(prefix="reelcloud-chromium-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class BrowserPlatform:
    platform: Platform
    openconnect: dict[str, Any]
    titles: dict[str, dict[str, Any]]  # short name -> asset manifest

    @property
    def gateway(self) -> str:
        return self.platform.gateway

    def oca_host(self, oca_id: str) -> str:
        oca = next(o for o in self.openconnect["ocas"] if o["id"] == oca_id)
        return f"{oca['address']}:{self.openconnect['port']}"

    def oca_of_host(self, host: str) -> str:
        return next(
            o["id"]
            for o in self.openconnect["ocas"]
            if f"{o['address']}:{self.openconnect['port']}" == host
        )

    def kill(self, oca_id: str, sig: int = signal.SIGKILL) -> int:
        (pid,) = oca_processes(self.platform.data_dir, oca_id)
        os.kill(pid, sig)
        return pid

    def kept_down(self, oca_id: str) -> Any:
        return kept_down(self.platform.data_dir, oca_id)


async def publish_demo_titles(
    platform: Platform, work: Path, lengths_s: dict[int, int]
) -> list[dict[str, Any]]:
    """Demo titles (index into DEMO_TITLES -> seconds) encoded and published for real, with
    licences that are open today."""
    settings = ingest_settings(platform, work)
    published = []
    for index, seconds in lengths_s.items():
        demo = DEMO_TITLES[index]
        metadata = dataclasses.replace(demo.metadata, licenses=licence(*demo.metadata.countries))
        source = await make_source(demo, work / f"demo-{index}.mp4", seconds=seconds)
        published.append(await ingest(settings, source, metadata))
    return published


async def wait_until_steered_to_edge(
    gateway: str, title_id: str, networks: dict[str, str], timeout_s: float = 90
) -> None:
    """Until a play from each network gets its own ISP's embedded OCA first (the OCAs filled)."""
    body = {"email": "alice@reelcloud.test", "password": "reelcloud"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gateway}/api/accounts/login", json=body) as reply:
            headers = {"Authorization": f"Bearer {(await reply.json())['token']}"}
        play = {"title_id": title_id, "profile_id": "p-alice", "device_id": "d-alice-browser"}
        waiting = dict(networks)
        last: list[Any] = [None]

        async def every_network_at_its_edge() -> bool:
            for name, address in list(waiting.items()):
                async with http.post(
                    f"{gateway}/api/play",
                    json=play,
                    headers={**headers, "X-Reelcloud-Network": address},
                ) as reply:
                    last[0] = await reply.json()
                if reply.status == 200:
                    async with http.post(gateway + last[0]["stop_url"], headers=headers):
                        pass
                    ocas = [o["oca_id"] for o in last[0]["ocas"]]
                    # Both embedded OCAs of the ISP hold it: failover stays in the ISP.
                    if sum(o.startswith(f"oca-{name[-1]}-") for o in ocas) == 2:
                        del waiting[name]
            return not waiting

        await wait_for(
            every_network_at_its_edge,
            what=lambda: (
                f"plays from {sorted(waiting)} are steered to both of their ISP's "
                f"embedded OCAs (last answer: {last[0]})"
            ),
            timeout_s=timeout_s,
            interval_s=0.3,
        )


@contextmanager
def browser_platform(
    tmp: Path, lengths_s: dict[int, int], *, more_services: list[dict[str, Any]] | None = None
) -> Iterator[BrowserPlatform]:
    """Accounts, catalog, playback, license, cache control, steering (1 s steering TTL), the
    Play API and a gateway serving web/, five OCAs filling all day, and demo titles; plus
    `more_services` (such as `platform.signup_services()`)."""
    with play_path_platform(
        tmp,
        steering={"manifest_ttl_s": 1},
        play_api={"steering_cache_s": 0},
        env=cli_env(),
        more_services=more_services,
    ) as (platform, openconnect):
        work = tmp / "titles"
        work.mkdir()
        manifests = asyncio.run(publish_demo_titles(platform, work, lengths_s))
        asyncio.run(
            wait_until_steered_to_edge(platform.gateway, manifests[0]["title_id"], NETWORKS)
        )
        yield BrowserPlatform(platform, openconnect, {m["metadata"]["title"]: m for m in manifests})
