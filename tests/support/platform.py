"""A platform started by the launcher for a test module: chosen services and engines, free
ports, stopped (and checked gone) at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reelcloud.launcher.datadir import DataDir
from reelcloud.launcher.secrets import Secrets, load_secrets
from reelcloud.launcher.up import engine_env
from reelcloud.platform.discovery import DiscoveryClient
from reelcloud.platform.storage import ObjectStore
from reelcloud.platform.topology import load_topology
from tests.support.cli import reelcloud, status, wait_gone, wait_status
from tests.support.factories import (
    discovery_client,
    free_port,
    openconnect_dict,
    shipped_topology_dict,
    topology_dict,
    write_topology,
)
from tests.support.waiting import wait_for

# Entrypoints as the packaged topology names them, so tests start what `reelcloud up` starts.
PACKAGED = {service.name: service for service in load_topology().services}
SERVICES = {name: service.entrypoint for name, service in PACKAGED.items()}


def all_up(current: dict[str, Any]) -> bool:
    return current["phase"] == "running" and all(
        i["status"] == "UP" and i["process"] == "running" for i in current["instances"]
    )


class Platform:
    def __init__(self, data_dir: Path, gateway_port: int) -> None:
        self.data_dir = data_dir
        self.gateway = f"http://127.0.0.1:{gateway_port}"

    def address_of(self, service: str) -> str:
        return next(
            i["address"] for i in status(self.data_dir)["instances"] if i["service"] == service
        )

    def secrets(self) -> Secrets:
        return load_secrets(self.data_dir)

    async def discovery(self, *wanted: str) -> DiscoveryClient:
        registry = status(self.data_dir)["registry"]["peers"][0]["url"]
        client = discovery_client(
            [registry], "test-client", 1, fetch=True, registry_secret=self.secrets().registry_secret
        )
        await client.start()
        try:
            await wait_for(
                lambda: all(client.instances(service) for service in wanted),
                what=f"the registry lists {', '.join(wanted)}",
            )
        except BaseException:
            await client.aclose()
            raise
        return client

    async def origin(self) -> ObjectStore:
        env = engine_env(DataDir.at(self.data_dir))
        return await ObjectStore(
            env["REELCLOUD_S3_URL"], env["REELCLOUD_S3_ACCESS_KEY"], env["REELCLOUD_S3_SECRET_KEY"]
        ).start()

    def env(self) -> dict[str, str]:
        return engine_env(DataDir.at(self.data_dir))


@contextmanager
def running_platform(
    tmp: Path,
    services: list[dict[str, Any]],
    *,
    engines: tuple[str, ...] = (),
    openconnect: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Platform]:
    """`services`: dicts with at least a name from SERVICES (entrypoint filled in); a gateway
    gets a free listen port."""
    gateway_port = free_port()
    entries = []
    for service in services:
        packaged = PACKAGED[service["name"]]
        entry = {"entrypoint": packaged.entrypoint, "database": packaged.database, **service}
        if entry["name"] == "gateway":
            entry.setdefault("options", {})["listen_port"] = gateway_port
        entries.append(entry)
    doc = topology_dict([free_port()], services=entries)
    for engine in engines:
        doc["engines"][engine] = {"enabled": True}
    if openconnect is not None:
        doc["openconnect"] = openconnect
    topology = write_topology(tmp / "topology.yaml", doc)
    data_dir = tmp / "data"
    result = reelcloud(
        "up", "--detach", "--topology", str(topology), "--data-dir", str(data_dir), env=env
    )
    try:  # a platform that came up halfway is stopped too
        assert result.returncode == 0, result.stdout + result.stderr
        wait_status(data_dir, all_up, timeout_s=60)
        yield Platform(data_dir, gateway_port)
    finally:
        reelcloud("down", "--data-dir", str(data_dir))
        assert wait_gone(str(data_dir)) == []


@contextmanager
def play_path_platform(
    tmp: Path,
    *,
    steering: dict[str, Any] | None = None,
    play_api: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    more_services: list[dict[str, Any]] | None = None,
) -> Iterator[tuple[Platform, dict[str, Any]]]:
    """Everything a play needs, with the real engines: accounts, catalog, playback, license,
    cache control, steering, the Play API, a gateway and five OCAs filling all day, on test
    timings. `steering` and `play_api` add to those services' options; `more_services` are
    started with them (as `running_platform` takes them). Yields the platform and its Open
    Connect section."""
    openconnect = openconnect_dict(port=free_port())
    for oca in openconnect["ocas"]:
        oca["fill_window"] = ["00:00", "00:00"]
    services: list[dict[str, Any]] = [
        {"name": "accounts"},
        {"name": "catalog", "options": {"sweep_interval_s": 1}},
        {"name": "playback"},
        {"name": "license"},
        {"name": "cache-control", "options": {"catalog_refresh_s": 0.5, "escalation_s": 2}},
        {"name": "steering", "layer": 2, "options": {"state_poll_s": 0.2, **(steering or {})}},
        {"name": "play-api", "layer": 3, "options": play_api or {}},
        {"name": "gateway", "layer": 4},
        *(more_services or []),
    ]
    with running_platform(
        tmp,
        services,
        engines=("postgres", "nats", "seaweedfs"),
        openconnect=openconnect,
        env=env,
    ) as platform:
        yield platform, openconnect


def signup_services(billing: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The card processor (on a free port: its address is fixed in the shipped topology),
    billing with `billing` added to its options, and the sign-up API, in the layers the
    packaged topology gives them."""
    return [
        {"name": "payments", "layer": 2, "port": free_port()},
        {"name": "billing", "layer": 3, "options": billing or {}},
        {"name": "signup-api", "layer": 4},
    ]


@contextmanager
def shipped_platform(tmp: Path, *, demo_titles: int, demo_seconds: int) -> Iterator[Platform]:
    """The packaged topology, detached, on free ports, seeding a demo catalog in the
    background as `make up` does; stopped (and checked gone) at the end, even when it came up
    halfway."""
    doc = shipped_topology_dict()
    doc["demo_catalog"] = {"enabled": True, "titles": demo_titles, "seconds": demo_seconds}
    gateway_port = next(s for s in doc["services"] if s["name"] == "gateway")["options"][
        "listen_port"
    ]
    topology = write_topology(tmp / "topology.yaml", doc)
    data_dir = tmp / "data"
    result = reelcloud("up", "--detach", "--topology", str(topology), "--data-dir", str(data_dir))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield Platform(data_dir, gateway_port)
    finally:
        reelcloud("down", "--data-dir", str(data_dir))
        assert wait_gone(str(data_dir)) == []


def oca_processes(data_dir: Path, oca_id: str) -> list[int]:
    """PIDs of this platform's processes serving `oca_id`, read from /proc (no status call)."""
    needles = (f"REELCLOUD_OCA_ID={oca_id}\0".encode(), str(data_dir).encode())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if all(n in environ for n in needles):
            found.append(int(entry.name))
    return found


@contextmanager
def kept_down(data_dir: Path, oca_id: str) -> Iterator[None]:
    """Kill the OCA now (kill -9) and every copy the launcher restarts until the block ends: an
    OCA that stays dead, so a player cannot find it back by retrying (the launcher restarts a
    killed OCA within 0.5 s, sometimes before the player's next request)."""
    done = threading.Event()

    def kill_all() -> None:
        for pid in oca_processes(data_dir, oca_id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def keep_killing() -> None:
        while not done.wait(0.05):
            kill_all()

    kill_all()
    killer = threading.Thread(target=keep_killing, daemon=True)
    killer.start()
    try:
        yield
    finally:
        done.set()
        killer.join()
