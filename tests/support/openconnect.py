"""Open Connect test helpers: a content store with files, an OCA server in-process, titles on
the origin."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from reelcloud.openconnect.server import SegmentServer
from reelcloud.openconnect.store import ContentStore
from reelcloud.platform.signed_urls import UrlSigner, client_network
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore

KEYS = {"k1": "test-url-key"}


def random_files(title_id: str, sizes: dict[str, int]) -> dict[str, bytes]:
    return {name: os.urandom(size) for name, size in sizes.items()}


def stock(store: ContentStore, title_id: str, files: dict[str, bytes]) -> dict[str, str]:
    """Put verified files on an OCA's disk, as fill would."""
    index = {}
    for name, data in files.items():
        content_id = hashlib.sha256(data).hexdigest()
        store.partial_path(content_id).write_bytes(data)
        store.commit(content_id)
        index[name] = content_id
    store.set_title(title_id, index)
    return index


@dataclass
class RunningOca:
    server: SegmentServer
    address: str
    port: int

    @property
    def store(self) -> ContentStore:
        return self.server.store

    def url(self, client: str, title_id: str, name: str, *, expires_in: int = 60) -> str:
        token = UrlSigner(KEYS).sign(
            title_id, client_network(client), int(time.time()) + expires_in
        )
        return f"http://{self.address}:{self.port}/v/{token}/{title_id}/{name}"


async def start_oca(root: Path, address: str, files: dict[str, dict[str, bytes]]) -> RunningOca:
    """A segment server on `address` holding `files` (title id -> name -> bytes)."""
    store = ContentStore(root, 10**9)
    for title_id, title_files in files.items():
        stock(store, title_id, title_files)
    server = SegmentServer(store, UrlSigner(KEYS))
    return RunningOca(server, address, await server.start(address, 0))


def manifest_for(
    title_id: str,
    files: dict[str, bytes],
    popularity: float = 0.0,
    age_s: float = 0,
    **metadata: Any,
) -> dict[str, Any]:
    return {
        "title_id": title_id,
        "duration_s": 12.0,
        "metadata": {"title": title_id, "popularity": popularity, **metadata},
        "encoded_at": time.time() - age_s,
        "files": [
            {"name": name, "content_id": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in files.items()
        ],
    }


async def publish(
    store: ObjectStore,
    title_id: str,
    files: dict[str, bytes],
    popularity: float = 0.0,
    age_s: float = 0,
    **metadata: Any,
) -> dict[str, Any]:
    """A title on the origin as ingest leaves it: its files, then its manifest last."""
    await store.ensure_bucket(ASSETS_BUCKET)
    for name, data in files.items():
        await store.put(ASSETS_BUCKET, f"titles/{title_id}/{name}", data)
    manifest = manifest_for(title_id, files, popularity, age_s, **metadata)
    await store.put(ASSETS_BUCKET, f"titles/{title_id}/manifest.json", orjson.dumps(manifest))
    return manifest
