"""`reelcloud ingest` end to end against a real SeaweedFS origin."""

import asyncio
import hashlib
import os
import signal
import sys

import orjson
import pytest
from tests.support.cli import ROOT, cli_env, reelcloud
from tests.support.engines import NatsServer
from tests.support.factories import TEST_CONTENT_KEK, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY
from tests.support.media import make_audio_only, make_video
from tests.support.waiting import wait_for

from reelcloud.platform.assets import manifest_key
from reelcloud.platform.content_keys import SealedKeyError, unseal
from reelcloud.platform.events import EventConsumer, decode
from reelcloud.platform.events.titles import TitleEncoded
from reelcloud.platform.storage import ASSETS_BUCKET, KEYS_BUCKET, SOURCES_BUCKET, ObjectStore

pytestmark = pytest.mark.asyncio


def env_for(seaweed, tmp_path):
    return cli_env(
        REELCLOUD_S3_URL=seaweed.url,
        REELCLOUD_S3_ACCESS_KEY=TEST_S3_ACCESS_KEY,
        REELCLOUD_S3_SECRET_KEY=TEST_S3_SECRET_KEY,
        REELCLOUD_CONTENT_KEK=TEST_CONTENT_KEK,
        REELCLOUD_DATA_DIR=str(tmp_path / "data"),
    )


async def keys_in(store, bucket):
    try:
        return [o.key async for o in store.objects(bucket)]
    except Exception:
        return []


async def test_ingest_publishes_a_complete_title(seaweed, tmp_path):
    source = make_video(tmp_path / "film.mp4", seconds=6)
    nats_server = NatsServer(tmp_path / "nats")
    nats_server.start()
    try:
        env = {**env_for(seaweed, tmp_path), "REELCLOUD_NATS_URL": nats_server.url}
        result = await asyncio.to_thread(
            reelcloud, "ingest", str(source), "--title", "The Long Night",
            "--genres", "drama,thriller", "--year", "2024", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        consumer = EventConsumer(nats_server.url, "ingest-check", subject="events.title.>")
        await consumer.start()
        (envelope, message), *_ = await consumer.fetch(10, timeout_s=5)
        await message.ack()
        await consumer.aclose()
    finally:
        nats_server.stop()
    event = decode(envelope)
    assert isinstance(event, TitleEncoded)
    assert event.title == "The Long Night"
    assert event.title_id == result.stdout.split()[0]
    assert "rungs: 240p, 360p" in result.stdout
    async with ObjectStore(seaweed.url, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY) as store:
        title_id = result.stdout.split()[0]
        manifest = orjson.loads(await store.get(ASSETS_BUCKET, manifest_key(title_id)))
        assert manifest["metadata"]["genres"] == ["drama", "thriller"]
        assert [r["height"] for r in manifest["rungs"]] == [240, 360]
        for entry in manifest["files"]:
            data = await store.get(ASSETS_BUCKET, f"titles/{title_id}/{entry['name']}")
            assert len(data) == entry["size"]
            assert hashlib.sha256(data).hexdigest() == entry["content_id"]
        names = {f["name"] for f in manifest["files"]}
        assert {"master.m3u8", "manifest.mpd", "init-0.m4s"} <= names
        key_id = manifest["encryption"]["key_id"]
        # The key is stored sealed under the KEK, bound to its title.
        stored = await store.get(KEYS_BUCKET, f"{title_id}/{key_id}.key")
        assert len(unseal(TEST_CONTENT_KEK, title_id, key_id, stored)) == 16
        with pytest.raises(SealedKeyError):
            unseal("another-kek-0123456789", title_id, key_id, stored)
        with pytest.raises(SealedKeyError):
            unseal(TEST_CONTENT_KEK, "t-another", key_id, stored)
        assert not any(k.endswith(".key") for k in await keys_in(store, ASSETS_BUCKET))
    again = await asyncio.to_thread(
        reelcloud,
        "ingest",
        str(source),
        "--title",
        "The Long Night",
        env=env_for(seaweed, tmp_path),
    )
    assert again.returncode == 0
    assert again.stdout.split()[0] == title_id  # same source: same title, already published


async def test_bad_sources_are_refused_and_leave_nothing(seaweed, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    audio = make_audio_only(tmp_path / "song.m4a")
    video = make_video(tmp_path / "ok.mp4", seconds=3)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[:2000])
    for path in (text, empty, audio, truncated, tmp_path / "missing.mp4"):
        result = await asyncio.to_thread(
            reelcloud, "ingest", str(path), "--title", "x", env=env_for(seaweed, tmp_path)
        )
        assert result.returncode == 1, path
        assert result.stderr.strip().startswith("error:"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    async with ObjectStore(seaweed.url, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY) as store:
        assert await keys_in(store, ASSETS_BUCKET) == []
        assert await keys_in(store, SOURCES_BUCKET) == []


async def test_an_encode_killed_midway_publishes_nothing_and_a_rerun_completes(seaweed, tmp_path):
    source = make_video(tmp_path / "long.mp4", seconds=20, size="854x480")
    env = env_for(seaweed, tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reelcloud", "ingest", str(source), "--title", "Killed",
        env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    work = tmp_path / "data" / "encoding"

    def encoding_midway():
        assert proc.returncode is None, "ingest ended before it was killed"
        return work.exists() and any(work.rglob("*.m4s"))  # segments written, more to come

    try:
        await wait_for(encoding_midway, what="the encode writes its first segments", timeout_s=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its ffmpeg
        await proc.wait()
    async with ObjectStore(seaweed.url, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY) as store:
        published = [k for k in await keys_in(store, ASSETS_BUCKET) if k.endswith("manifest.json")]
        assert published == []
    result = await asyncio.to_thread(reelcloud, "ingest", str(source), "--title", "Killed", env=env)
    assert result.returncode == 0, result.stderr
    async with ObjectStore(seaweed.url, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY) as store:
        title_id = result.stdout.split()[0]
        assert await store.head(ASSETS_BUCKET, manifest_key(title_id)) is not None
