"""The Python client against the whole platform, every part real: `reelcloud play` from each
network streams from that network's OCAs; killing the serving OCA mid-play moves the player to
the next one without a stall; throttled below the top rung, BBA settles lower without
rebuffering; `reelcloud load` accounts for every viewer."""

import asyncio
import contextlib
import json

import pytest
import pytest_asyncio
from tests.support.cli import reelcloud, wait_status
from tests.support.platform import all_up, kept_down, play_path_platform, signup_services
from tests.support.titles import publish_title, wait_playable

from reelcloud.client import PlatformClient
from reelcloud.client.abr import BufferBased
from reelcloud.client.network import BandwidthTrace, Throttle
from reelcloud.client.player import HeadlessPlayer

pytestmark = pytest.mark.asyncio(loop_scope="module")

TITLE = "Sixteen Seconds"
SECONDS = 16


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client")
    # The sign-up API too: `reelcloud load` joins a member per viewer through it.
    with play_path_platform(
        tmp, steering={"manifest_ttl_s": 1}, more_services=signup_services()
    ) as (platform, _):
        yield platform


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def title(platform, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("title")
    published = await publish_title(
        platform, tmp, TITLE, ["US"], seconds=SECONDS, size="640x360", maturity="PG"
    )
    for address in ("127.10.0.9", "127.20.0.9"):  # both ISPs' OCAs have filled it
        await wait_playable(
            platform, published["title_id"], source_address=address, email="alice@reelcloud.test"
        )
    return published


def cli(platform, *args):
    topology = platform.data_dir.parent / "topology.yaml"
    return reelcloud(*args, "--gateway", platform.gateway, "--topology", str(topology))


async def test_reelcloud_play_streams_from_the_networks_own_ocas(platform, title):
    async def play_from(network):
        result = await asyncio.to_thread(
            cli, platform, "play", TITLE.lower()[:7], "--network", network, "--speed", "8",
            "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    isp_a, isp_b, other = await asyncio.gather(
        play_from("isp-a"), play_from("isp-b"), play_from("other")
    )
    for report, ocas in (
        (isp_a, {"oca-a-1", "oca-a-2"}),
        (isp_b, {"oca-b-1", "oca-b-2"}),
        (other, {"oca-ixp-1"}),
    ):
        assert report["title"] == TITLE
        assert set(report["bytes_by_oca"]) <= ocas, report
        assert report["played_s"] == pytest.approx(title["duration_s"], abs=0.5)
        assert report["errors"] == 0
        assert report["rebuffers"] == 0
    assert isp_a["source_address"].startswith("127.10.")


async def test_reelcloud_play_refuses_bad_arguments_in_one_line(platform, title):
    for args, message in (
        (("play", "no such title"), "no title"),
        (("play", TITLE, "--network", "isp-z"), "no network 'isp-z'"),
        (("play", TITLE, "--abr", "magic"), "unknown ABR rule"),
        (("play", TITLE, "--throttle-kbps", "100", "--trace", "x.csv"), "not both"),
        (("play", TITLE, "--trace", "/nonexistent.csv"), "cannot read"),
    ):
        result = await asyncio.to_thread(cli, platform, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


async def test_killing_the_serving_oca_mid_play_moves_to_the_next_without_a_stall(platform, title):
    killed: dict = {}
    down = contextlib.ExitStack()

    def watch(state):
        if not killed and state["played_s"] >= 4:
            killed.update(oca=state["oca"], buffer_s=state["buffer_s"])
            # kill -9, and again whenever the launcher restarts it, until the play ends
            down.enter_context(kept_down(platform.data_dir, state["oca"]))

    async with PlatformClient(platform.gateway, source_address="127.10.0.21") as client:
        await client.sign_in("alice@reelcloud.test", "reelcloud")
        play = await client.play(title["title_id"])
        player = HeadlessPlayer(
            client, play, BufferBased(reservoir_s=1, cushion_s=3), speed=2,
            buffer_target_s=6, on_progress=watch,
        )  # fmt: skip
        with down:
            qoe = await asyncio.wait_for(player.run(), 60)
    try:
        assert killed["oca"].startswith("oca-a-"), (killed, play.ocas, qoe.pathway_changes)
        assert qoe.played_s == pytest.approx(title["duration_s"], abs=0.5)
        assert qoe.oca_changes >= 1
        change = qoe.pathway_changes[0]
        assert change["from"] == killed["oca"]
        assert change["why"].startswith("error")
        assert qoe.bytes_by_oca[change["to"]] > 0
        # Whatever stall there was is shorter than what the buffer held at the kill.
        assert qoe.rebuffer_s < killed["buffer_s"], (qoe.summary(), killed)
        assert qoe.rebuffers == 0
    finally:  # the launcher restarts the OCA; later tests want every OCA back
        await asyncio.to_thread(wait_status, platform.data_dir, all_up, 60)


async def test_throttled_below_the_top_rung_bba_settles_lower_without_rebuffering(platform, title):
    async with PlatformClient(platform.gateway, source_address="127.10.0.22") as client:
        await client.sign_in("alice@reelcloud.test", "reelcloud")
        play = await client.play(title["title_id"])
        ladder = [v.bandwidth for v in play.multivariant.ladder(play.multivariant.pathways[0])]
        assert len(ladder) >= 2
        assert ladder[-1] >= 2 * ladder[0], ladder  # room between the rungs for the throttle
        # Between the lowest and the top rung (geometric mean), scaled to the player's speed.
        speed = 2
        throttle = (ladder[0] * ladder[-1]) ** 0.5
        client.throttle = Throttle(BandwidthTrace.constant(throttle), speed=speed)
        player = HeadlessPlayer(
            client, play, BufferBased(reservoir_s=2, cushion_s=4), speed=speed,
            buffer_target_s=8,
        )  # fmt: skip
        qoe = await asyncio.wait_for(player.run(), 60)
    top = play.multivariant.ladder(play.multivariant.pathways[0])[-1].height
    assert qoe.rebuffers == 0, qoe.summary()
    assert qoe.played_s == pytest.approx(title["duration_s"], abs=0.5)
    assert qoe.rungs[top] < sum(qoe.rungs.values())  # not the top rung throughout
    assert qoe.mean_bitrate_bps < ladder[-1]


async def test_reelcloud_load_accounts_for_every_viewer(platform, title, tmp_path):
    report_file = tmp_path / "load.json"
    result = await asyncio.to_thread(
        cli, platform, "load", "--viewers", "12", "--duration", "8", "--arrival-rate", "3",
        "--networks", "isp-a:0.5,isp-b:0.3,other:0.2", "--speed", "4", "--seed", "1",
        "--json", str(report_file), "--html", str(tmp_path / "load.html"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(report_file.read_text())
    assert report["started"] == 12
    assert report["succeeded"] + report["failed"] == report["started"]
    assert sum(report["failed_by_reason"].values()) == report["failed"]
    assert report["succeeded"] >= 10, report["failed_by_reason"]
    assert report["stream_starts"] >= report["succeeded"]
    assert report["sps"] == pytest.approx(report["stream_starts"] / 8, abs=0.01)
    assert report["play_latency_ms"]["p50"] > 0
    assert set(report["bytes_by_tier"]) == {"embedded", "ixp", "origin"}
    assert report["bytes_by_tier"]["embedded"] > 0
    assert report["cpu"]["cores_used"] > 0
    assert "SPS" in result.stdout or "stream starts" in result.stdout
    assert len(report["timeline"]) >= 3  # a sample a second until the last viewer stops
    assert len(report["startup_ms_all"]) == report["stream_starts"]
    page = (tmp_path / "load.html").read_text()
    assert page.count("<svg") == 3


async def test_reelcloud_load_refuses_a_bad_network_mix(platform):
    for mix, message in (("isp-q:1", "no network 'isp-q'"), ("isp-a:x", "must be a number"),
                         ("isp-a:0", "at least one positive")):  # fmt: skip
        result = await asyncio.to_thread(cli, platform, "load", "--networks", mix)
        assert result.returncode == 1
        assert message in result.stderr, result.stderr
