"""The object store client against a real SeaweedFS S3 gateway."""

import pytest
from tests.support.factories import TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY
from tests.support.waiting import wait_for

from reelcloud.platform.errors import NotFoundError, UnavailableError
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore

pytestmark = pytest.mark.asyncio


async def ready_store(url, access=TEST_S3_ACCESS_KEY, secret=TEST_S3_SECRET_KEY):
    store = await ObjectStore(url, access, secret).start()

    async def bucket_made():  # the gateway answers before its filer is ready for writes
        await store.ensure_bucket(ASSETS_BUCKET)
        return True

    try:
        await wait_for(
            bucket_made,
            what=f"the S3 gateway at {url} takes writes",
            interval_s=0.3,
            ignoring=(UnavailableError,),
        )
    except BaseException:
        await store.aclose()
        raise
    return store


async def test_put_get_head_list_delete(seaweed):
    store = await ready_store(seaweed.url)
    try:
        info = await store.put(ASSETS_BUCKET, "t1/v720/seg1.m4s", b"\x00" * 1000, "video/mp4")
        assert info.size == 1000
        assert await store.get(ASSETS_BUCKET, "t1/v720/seg1.m4s") == b"\x00" * 1000
        head = await store.head(ASSETS_BUCKET, "t1/v720/seg1.m4s")
        assert head is not None
        assert head.size == 1000
        assert await store.head(ASSETS_BUCKET, "t1/missing") is None
        await store.put(ASSETS_BUCKET, "t1/v720/seg2.m4s", b"x", "video/mp4")
        await store.put(ASSETS_BUCKET, "t2/manifest.json", b"{}", "application/json")
        keys = [o.key async for o in store.objects(ASSETS_BUCKET, "t1/")]
        assert keys == ["t1/v720/seg1.m4s", "t1/v720/seg2.m4s"]
        assert await store.delete_prefix(ASSETS_BUCKET, "t1/") == 2
        assert [o.key async for o in store.objects(ASSETS_BUCKET, "t1/")] == []
        with pytest.raises(NotFoundError):
            await store.get(ASSETS_BUCKET, "t1/v720/seg1.m4s")
    finally:
        await store.aclose()


async def test_wrong_credentials_are_refused(seaweed):
    good = await ready_store(seaweed.url)
    await good.aclose()
    store = await ObjectStore(seaweed.url, TEST_S3_ACCESS_KEY, "wrong-secret").start()
    try:
        with pytest.raises(
            UnavailableError, match=r"SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId"
        ):
            await store.put(ASSETS_BUCKET, "x", b"y")
    finally:
        await store.aclose()


async def test_an_unreachable_store_is_unavailable():
    store = await ObjectStore("http://127.0.0.1:1", "a", "b").start()
    try:
        with pytest.raises(UnavailableError, match="unreachable"):
            await store.get(ASSETS_BUCKET, "x")
    finally:
        await store.aclose()
