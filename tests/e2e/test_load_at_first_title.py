"""What a new user does right after `reelcloud up`: as soon as the first demo title is offered
for play — while the rest of the demo catalog still encodes and fills — run `reelcloud load`
with 50 viewers for 30 s. Every play succeeds (the issue's bar is 99 %: with 50 viewers that
is all of them)."""

import json

import aiohttp
import pytest
import yaml
from tests.support.cli import cli_env, reelcloud, wait_gone
from tests.support.factories import free_port
from tests.support.waiting import wait_for

from reelcloud.platform.topology import default_topology_path

pytestmark = pytest.mark.asyncio

DEMO_TITLES = 3


@pytest.fixture
def fresh_platform(tmp_path):
    """The shipped topology on free ports, seeding a three-title demo catalog in the
    background (as `make up` seeds six)."""
    doc = yaml.safe_load(default_topology_path().read_text())
    for peer in doc["registry"]["peers"]:
        peer["port"] = free_port()
    gateway = next(s for s in doc["services"] if s["name"] == "gateway")
    gateway["options"]["listen_port"] = port = free_port()
    doc["openconnect"]["port"] = free_port()
    doc["demo_catalog"] = {"enabled": True, "titles": DEMO_TITLES, "seconds": 8}
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump(doc))
    data_dir = tmp_path / "data"
    result = reelcloud(
        "up", "--detach", "--topology", str(topology), "--data-dir", str(data_dir), env=cli_env()
    )
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield data_dir, f"http://127.0.0.1:{port}"
    finally:
        reelcloud("down", "--data-dir", str(data_dir))
        assert wait_gone(str(data_dir)) == []


@pytest.mark.timeout(600)
async def test_a_load_started_at_the_first_playable_title_loses_no_play(fresh_platform, tmp_path):
    data_dir, gateway = fresh_platform
    seen: list[object] = []

    async def first_available():
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{gateway}/api/catalog/titles") as reply,
            ):
                titles = (await reply.json())["titles"] if reply.status == 200 else []
        except aiohttp.ClientError as exc:
            seen[:] = [exc]
            return None
        seen[:] = [[(t["name"], t.get("availability")) for t in titles]]
        return [t for t in titles if t.get("availability") == "available"]

    available = await wait_for(
        first_available,
        what=lambda: f"a demo title is offered for play (catalog: {seen})",
        timeout_s=300,
        interval_s=0.5,
    )
    assert available

    report_file = tmp_path / "load.json"
    run = reelcloud(
        "load",
        "--viewers",
        "50",
        "--duration",
        "30",
        "--seed",
        "7",
        "--data-dir",
        str(data_dir),
        "--json",
        str(report_file),
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_file.read_text())
    assert report["started"] == 50
    assert report["failed_by_reason"] == {}, report["failed_by_reason"]
    assert report["succeeded"] == 50
