"""Seeding the demo catalog into a real SeaweedFS, then finding it already there."""

import asyncio

import orjson
import pytest
from tests.support.cli import cli_env, reelcloud
from tests.support.factories import TEST_CONTENT_KEK, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY

from reelcloud.encoding.pipeline import manifest_key
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore

pytestmark = pytest.mark.asyncio


async def test_demo_catalog_is_seeded_once_and_cached(seaweed, tmp_path):
    env = cli_env(
        REELCLOUD_S3_URL=seaweed.url,
        REELCLOUD_S3_ACCESS_KEY=TEST_S3_ACCESS_KEY,
        REELCLOUD_S3_SECRET_KEY=TEST_S3_SECRET_KEY,
        REELCLOUD_CONTENT_KEK=TEST_CONTENT_KEK,
        REELCLOUD_DATA_DIR=str(tmp_path / "data"),
    )
    first = await asyncio.to_thread(
        reelcloud, "seed-demo", "--titles", "2", "--seconds", "4", env=env, timeout=300
    )
    assert first.returncode == 0, first.stderr
    assert "2 titles published" in first.stdout
    async with ObjectStore(seaweed.url, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY) as store:
        manifests = [
            orjson.loads(await store.get(ASSETS_BUCKET, o.key))
            async for o in store.objects(ASSETS_BUCKET, "titles/")
            if o.key.endswith("/manifest.json")
        ]
    assert len(manifests) == 2
    titles = {m["metadata"]["title"] for m in manifests}
    assert titles == {"Test Pattern Odyssey", "The Mandelbrot Heist"}
    for manifest in manifests:
        assert manifest["metadata"]["genres"]
        assert manifest["metadata"]["licenses"][0]["country"]
        assert 3.5 < manifest["duration_s"] < 4.5
        assert manifest_key(manifest["title_id"]).endswith("manifest.json")
    sources = sorted((tmp_path / "data" / "demo").glob("*.mp4"))
    assert len(sources) == 2  # sources cached
    made = {path: path.stat().st_mtime_ns for path in sources}

    again = await asyncio.to_thread(
        reelcloud, "seed-demo", "--titles", "2", "--seconds", "4", env=env
    )
    assert again.returncode == 0
    assert "0 titles published" in again.stdout
    # Nothing made or encoded the second time: the same sources, the same manifests.
    assert {path: path.stat().st_mtime_ns for path in sources} == made
    async with ObjectStore(seaweed.url, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY) as store:
        after = [
            orjson.loads(await store.get(ASSETS_BUCKET, o.key))
            async for o in store.objects(ASSETS_BUCKET, "titles/")
            if o.key.endswith("/manifest.json")
        ]
    assert sorted(m["encoded_at"] for m in after) == sorted(m["encoded_at"] for m in manifests)
