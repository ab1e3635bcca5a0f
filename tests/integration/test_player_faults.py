"""The headless player against a small scripted platform on loopback (a real HTTP server that
can misbehave on purpose): malformed playlists, segments that 404, a steering manifest that is
not JSON, a key that does not decrypt, OCAs that are down. Each is handled — another OCA, a
retry, the last good steering order, or a clear PlaybackError — and none hangs."""

import asyncio
import os
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from aiohttp import web
from tests.support.waiting import wait_for

from reelcloud.apis.play.documents import Pathway, media_playlist, multivariant
from reelcloud.client import PlatformClient
from reelcloud.client.abr import BufferBased
from reelcloud.client.player import HeadlessPlayer, PlaybackError
from reelcloud.encoding.encryption import KEY_URI_PLACEHOLDER, encrypt_segment
from reelcloud.platform.assets import AssetManifest

pytestmark = pytest.mark.asyncio

KEY = bytes(range(16))
SEGMENTS = 6
MANIFEST = AssetManifest.model_validate({
    "title_id": "t-1", "files": [],
    "rungs": [
        {"name": n, "peak_bps": b, "average_bps": b, "width": w, "height": h, "codecs": "avc1",
         "hls_playlist": f"hls_{h}.m3u8", "representation_id": str(h), "video_kbps": b // 1000,
         "playlist": f"media_{h}.m3u8"}
        for n, b, w, h in (("240p", 200_000, 426, 240), ("480p", 900_000, 854, 480))
    ],
})  # fmt: skip
PATHWAYS = ["oca-1", "oca-2", "oca-3"]


@dataclass
class Script:
    """How the scripted platform misbehaves; tests flip these."""

    malformed_playlist: set[str] = field(default_factory=set)  # OCAs
    missing_segments: set[tuple[str, int]] = field(default_factory=set)  # (OCA, index)
    down: set[str] = field(default_factory=set)  # OCAs answering 503 to everything
    steering: str | None = None  # a raw manifest body; None: a proper one
    steering_order: list[str] = field(default_factory=lambda: list(PATHWAYS))
    wrong_key: bool = False
    stops: list[dict] = field(default_factory=list)
    heartbeats: list[dict] = field(default_factory=list)
    steering_polls: int = 0


def template(height: int) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:2",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD",
             '#EXT-X-MAP:URI="init.mp4"', f'#EXT-X-KEY:METHOD=AES-128,URI="{KEY_URI_PLACEHOLDER}"']  # fmt: skip
    for index in range(SEGMENTS):
        lines += ["#EXTINF:2.000,", f"enc-seg-{height}-{index}.m4s"]
    return "\n".join([*lines, "#EXT-X-ENDLIST"])


def make_app(script: Script) -> web.Application:
    def base(request: web.Request) -> str:
        return f"http://{request.host}"

    async def login(request):
        return web.json_response(
            {"token": "t", "member": {"id": "m-1"}, "profiles": [{"id": "p-1"}],
             "devices": [{"id": "d-1"}]}
        )  # fmt: skip

    async def play(request):
        root = base(request)
        pathways = [Pathway(p, f"{root}/{p}/") for p in PATHWAYS]
        playlist = multivariant(
            MANIFEST, ["240p", "480p"], pathways, root + "/{pathway}/{playlist}", "/steering"
        )
        playlist = playlist.replace("/0/", "/oca-1/").replace("/1/", "/oca-2/")
        playlist = playlist.replace("/2/", "/oca-3/")
        return web.json_response(
            {"play_id": "pl-1", "title_id": "t-1", "rungs": ["240p", "480p"],
             "ocas": [{"oca_id": p, "kind": "embedded"} for p in PATHWAYS],
             "hls": {"url": "/api/play/pl-1/master.m3u8", "playlist": playlist},
             "heartbeat_url": "/api/play/pl-1/heartbeat", "stop_url": "/api/play/pl-1/stop"}
        )  # fmt: skip

    async def heartbeat(request):
        script.heartbeats.append(await request.json())
        return web.json_response({})

    async def stop(request):
        script.stops.append(await request.json())
        return web.json_response({})

    async def steering(request):
        script.steering_polls += 1
        if script.steering is not None:
            return web.Response(text=script.steering, content_type="application/json")
        return web.json_response(
            {"VERSION": 1, "TTL": 1, "RELOAD-URI": "/steering",
             "PATHWAY-PRIORITY": script.steering_order}
        )  # fmt: skip

    async def key(request):
        return web.Response(body=bytes(16) if script.wrong_key else KEY)

    async def oca(request):
        oca_id, name = request.match_info["oca"], request.match_info["name"]
        if oca_id in script.down:
            return web.json_response({"error": {"code": "down", "message": "down"}}, status=503)
        if name.endswith(".m3u8"):
            if oca_id in script.malformed_playlist:
                return web.Response(text="#EXTM3U\n#EXTINF:abc,\nseg.m4s\n")
            height = int(name.removeprefix("hls_").removesuffix(".m3u8"))
            pathway = Pathway(oca_id, f"{base(request)}/{oca_id}/")
            return web.Response(text=media_playlist(template(height), pathway, "/key"))
        if name == "init.mp4":
            return web.Response(body=b"\x00" * 800)
        _, _, height, index = name.removesuffix(".m4s").split("-")
        if (oca_id, int(index)) in script.missing_segments:
            return web.json_response({"error": {"code": "not_found", "message": "no"}}, status=404)
        size = 2 * int(height) * 40  # a few kB: bigger rungs, bigger segments
        return web.Response(body=encrypt_segment(os.urandom(size), KEY, int(index)))

    app = web.Application()
    app.router.add_post("/api/accounts/login", login)
    app.router.add_post("/api/play", play)
    app.router.add_post("/api/play/pl-1/heartbeat", heartbeat)
    app.router.add_post("/api/play/pl-1/stop", stop)
    app.router.add_get("/steering", steering)
    app.router.add_get("/key", key)
    app.router.add_get("/{oca}/{name}", oca)
    return app


@pytest_asyncio.fixture
async def scripted():
    script = Script()
    runner = web.AppRunner(make_app(script))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield script, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def play_through(gateway: str, **player_options) -> HeadlessPlayer:
    async with PlatformClient(gateway) as client:
        await client.sign_in("someone@example.test", "pw")
        play = await client.play("t-1")
        options = {"speed": 50, "heartbeat_s": 4} | player_options
        player = HeadlessPlayer(client, play, BufferBased(reservoir_s=1, cushion_s=4), **options)
        await asyncio.wait_for(player.run(), 20)
        return player


async def test_a_clean_play_completes_from_the_first_pathway(scripted):
    script, gateway = scripted
    player = await play_through(gateway)
    assert player.qoe.played_s == pytest.approx(SEGMENTS * 2, abs=0.1)
    assert player.qoe.errors == 0
    assert set(player.qoe.bytes_by_oca) == {"oca-1"}
    assert script.stops
    assert script.stops[-1]["position_s"] == pytest.approx(12, abs=0.1)
    assert script.heartbeats  # every 4 s of playback


async def test_a_malformed_playlist_moves_the_player_to_the_next_oca(scripted):
    script, gateway = scripted
    script.malformed_playlist.add("oca-1")
    player = await play_through(gateway)
    assert player.qoe.played_s == pytest.approx(SEGMENTS * 2, abs=0.1)
    assert "oca-1" not in player.qoe.bytes_by_oca
    assert sum(player.qoe.rungs.values()) == SEGMENTS


async def test_a_segment_that_404s_is_fetched_from_the_next_oca_without_losing_position(
    scripted,
):
    script, gateway = scripted
    script.missing_segments.add(("oca-1", 3))
    player = await play_through(gateway)
    assert player.qoe.played_s == pytest.approx(SEGMENTS * 2, abs=0.1)
    assert sum(player.qoe.rungs.values()) == SEGMENTS  # no segment skipped or doubled
    assert player.qoe.errors == 1
    assert player.qoe.oca_changes == 1
    change = player.qoe.pathway_changes[0]
    assert (change["from"], change["to"], change["why"]) == ("oca-1", "oca-2", "error: not_found")
    assert set(player.qoe.bytes_by_oca) == {"oca-1", "oca-2"}


async def test_a_steering_manifest_that_is_not_json_keeps_the_last_order(scripted):
    script, gateway = scripted
    script.steering = "<html>oops</html>"
    player = await play_through(gateway)
    assert player.qoe.played_s == pytest.approx(SEGMENTS * 2, abs=0.1)
    assert player.qoe.steering_errors >= 1
    assert player.qoe.steering_updates == 0
    assert set(player.qoe.bytes_by_oca) == {"oca-1"}


async def test_a_pathway_dropped_by_steering_is_left(scripted):
    script, gateway = scripted

    async def drop_oca_1_after_the_first_poll():
        await wait_for(
            lambda: script.steering_polls >= 1,
            what="the player polls the steering manifest",
            interval_s=0.01,
        )
        script.steering_order = ["oca-2", "oca-3"]  # oca-1 stopped reporting, say

    dropping = asyncio.create_task(drop_oca_1_after_the_first_poll())
    player = await play_through(gateway, speed=4, buffer_target_s=4)
    await dropping
    assert script.steering_polls >= 2  # at the manifest's TTL (1 s)
    assert player.qoe.steering_updates == 1
    assert player.qoe.bytes_by_oca["oca-1"] > 0
    assert player.qoe.bytes_by_oca["oca-2"] > 0
    change = player.qoe.pathway_changes[-1]
    assert (change["from"], change["to"], change["why"]) == ("oca-1", "oca-2", "steering")
    assert player.qoe.played_s == pytest.approx(SEGMENTS * 2, abs=0.1)


async def test_a_key_that_does_not_decrypt_ends_the_play_with_a_clear_error(scripted):
    script, gateway = scripted
    script.wrong_key = True
    with pytest.raises(PlaybackError, match="does not decrypt") as failure:
        await play_through(gateway)  # which fails the test, rather than hang, after 20 s
    assert failure.value.code == "no_oca"
    assert script.stops  # the stream slot is given back


async def test_every_oca_down_fails_fast_and_says_so(scripted):
    script, gateway = scripted
    script.down.update(PATHWAYS)
    with pytest.raises(PlaybackError, match="failed on every OCA"):
        await play_through(gateway)
    assert script.stops
