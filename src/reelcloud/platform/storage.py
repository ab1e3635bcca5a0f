"""The origin object store: an async S3 client (aiobotocore), pointed at SeaweedFS on one
machine and at any S3 endpoint at scale (`REELCLOUD_S3_URL` and credentials).

Errors are translated here: a missing key is `NotFoundError`, an unreachable or failing store
is `UnavailableError`, so callers never see botocore's exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from reelcloud.platform.errors import ConfigurationError, NotFoundError, UnavailableError
from reelcloud.platform.settings import Settings

SOURCES_BUCKET = "reelcloud-sources"  # uploaded originals
ASSETS_BUCKET = "reelcloud-assets"  # encoded, packaged files that OCAs fill from
KEYS_BUCKET = "reelcloud-keys"  # content keys for the license service, never beside segments
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


class ObjectStore:
    def __init__(
        self, url: str, access_key: str, secret_key: str, region: str = "us-east-1"
    ) -> None:
        self.url = url
        self._credentials = (access_key, secret_key, region)
        self._context: AbstractAsyncContextManager[Any] | None = None
        self._client: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        if not settings.s3_url:
            raise ConfigurationError("no object store: REELCLOUD_S3_URL is not set")
        return cls(
            settings.s3_url,
            settings.s3_access_key,
            settings.s3_secret_key.get_secret_value(),
            settings.s3_region,
        )

    async def start(self) -> ObjectStore:
        access_key, secret_key, region = self._credentials
        self._context = get_session().create_client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        self._client = await self._context.__aenter__()
        return self

    async def aclose(self) -> None:
        if self._context is not None:
            await self._context.__aexit__(None, None, None)
            self._context = self._client = None

    async def __aenter__(self) -> ObjectStore:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- operations ---------------------------------------------------------------------------

    async def ensure_bucket(self, bucket: str) -> None:
        try:
            await self._call("head_bucket", Bucket=bucket)
        except NotFoundError:
            await self._call("create_bucket", Bucket=bucket)

    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ObjectInfo:
        reply = await self._call(
            "put_object", Bucket=bucket, Key=key, Body=data, ContentType=content_type
        )
        return ObjectInfo(key, len(data), str(reply.get("ETag", "")).strip('"'))

    async def put_file(self, bucket: str, key: str, path: Path, content_type: str) -> ObjectInfo:
        data = await asyncio.to_thread(path.read_bytes)
        return await self.put(bucket, key, data, content_type)

    async def get(self, bucket: str, key: str) -> bytes:
        reply = await self._call("get_object", Bucket=bucket, Key=key)
        async with reply["Body"] as body:
            data: bytes = await body.read()
            return data

    async def stream(
        self, bucket: str, key: str, *, start: int = 0, chunk_bytes: int = 64 * 1024
    ) -> AsyncIterator[bytes]:
        """An object's bytes from `start` on, in chunks (fill resumes a partial download)."""
        args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if start:
            args["Range"] = f"bytes={start}-"
        reply = await self._call("get_object", **args)
        async with reply["Body"] as body:
            while chunk := await body.read(chunk_bytes):
                yield chunk

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            reply = await self._call("head_object", Bucket=bucket, Key=key)
        except NotFoundError:
            return None
        return ObjectInfo(key, int(reply["ContentLength"]), str(reply.get("ETag", "")).strip('"'))

    async def delete(self, bucket: str, key: str) -> None:
        await self._call("delete_object", Bucket=bucket, Key=key)

    async def objects(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
            if token:
                args["ContinuationToken"] = token
            reply = await self._call("list_objects_v2", **args)
            for item in reply.get("Contents", []):
                yield ObjectInfo(
                    item["Key"], int(item["Size"]), str(item.get("ETag", "")).strip('"')
                )
            if not reply.get("IsTruncated"):
                return
            token = reply.get("NextContinuationToken")

    async def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under `prefix` (e.g. a title's half-written files)."""
        keys = [info.key async for info in self.objects(bucket, prefix)]
        for key in keys:
            await self.delete(bucket, key)
        return len(keys)

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        if self._client is None:
            raise UnavailableError("object store client is not started")
        try:
            return await getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                # Answers can carry this message: it names no bucket or key of the origin.
                raise NotFoundError("not found in the object store") from exc
            raise UnavailableError(f"object store {operation} failed: {code or exc}") from exc
        except (BotoCoreError, OSError) as exc:
            raise UnavailableError(f"object store unreachable: {type(exc).__name__}") from exc
