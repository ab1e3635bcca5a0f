"""The fill agent: bring the titles of the fill manifest onto this OCA's disk.

For each file it is missing, in title rank order, it tries the sources cache control ranked for
it — a peer in the same site (peer fill), an OCA in an upstream site (tier fill) — and then the
origin object store (cache fill) when cache control allows it. Every download:

- is paced by one token bucket per OCA (the fill bandwidth cap),
- lands in `partial/` and resumes from there after a crash (a ranged request),
- becomes servable only after its SHA-256 matches its content id; a corrupt copy is deleted and
  fetched again from the next source.

Fill runs inside the OCA's fill window, except for titles cache control flags as new and
whenever `reelcloud fill --now` asked for an out-of-window round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from reelcloud.openconnect.store import ContentStore, CorruptContentError
from reelcloud.platform.errors import ReelcloudError
from reelcloud.platform.signed_urls import UrlSigner, client_network
from reelcloud.platform.storage import ASSETS_BUCKET, ObjectStore
from reelcloud.platform.topology import OcaConfig

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
PARALLEL_FILES = 4
SOURCE_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=2, sock_read=10)


class ByteRate:
    """A token bucket in bytes: `take(n)` waits until n bytes may pass under the cap."""

    def __init__(self, bytes_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = bytes_per_s
        # A burst of 50 ms (at least one chunk) keeps the measured rate close to the cap.
        self.burst = max(float(CHUNK_BYTES), bytes_per_s * 0.05)
        self._clock = clock
        self._tokens = 0.0
        self._at = clock()

    async def take(self, count: int) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= count
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)


class SourceError(Exception):
    """A source that could not give a file (unreachable, 404, cut off)."""


class FillAgent:
    def __init__(
        self,
        oca: OcaConfig,
        store: ContentStore,
        signer: UrlSigner,
        origin: ObjectStore | None,
        *,
        log_path: Path,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.oca = oca
        self.store = store
        self.signer = signer
        self.origin = origin
        self.rate = ByteRate(oca.fill_rate_bytes_per_s)
        self.bytes_by_source: Counter[str] = Counter()  # peer / tier / origin
        self.files_by_source: Counter[str] = Counter()
        self.corrupt = 0
        self.failed = 0
        self.evicted = 0
        self.fill_now_done = 0
        self._log_path = log_path
        self.on_change = on_change
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # Bind our own address, so peers see (and our signed URLs name) this OCA.
        connector = aiohttp.TCPConnector(local_addr=(self.oca.address, 0), limit=16)
        self._session = aiohttp.ClientSession(connector=connector, timeout=SOURCE_TIMEOUT)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def stats(self) -> dict[str, Any]:
        return {
            "bytes_by_source": dict(self.bytes_by_source),
            "files_by_source": dict(self.files_by_source),
            "corrupt": self.corrupt,
            "failed": self.failed,
            "evicted": self.evicted,
        }

    # ---- a round -------------------------------------------------------------------------------

    async def fill(self, manifest: dict[str, Any], *, now: float | None = None) -> None:
        """One fill round over the manifest's titles, in rank order."""
        local = datetime.fromtimestamp(time.time() if now is None else now)
        in_window = self.oca.in_fill_window(local.time())
        forced = int(manifest.get("fill_now", 0)) > self.fill_now_done
        titles = manifest["titles"]
        wanted = {f["content_id"] for t in titles for f in t["files"]}
        complete = True
        for title in titles:
            if not (in_window or forced or title["new"]):
                continue
            complete &= await self._fill_title(title, wanted)
        if forced and complete:
            self.fill_now_done = int(manifest["fill_now"])

    async def _fill_title(self, title: dict[str, Any], wanted: set[str]) -> bool:
        title_id = title["title_id"]
        files = title["files"]
        self.store.set_title(title_id, {f["name"]: f["content_id"] for f in files})
        missing = [f for f in files if not self.store.has(f["content_id"])]
        if not missing:
            return True
        if not title["sources"] and not title["origin"]:
            return False  # waiting for the site's fill master or the upstream to have it
        if not self._make_room(sum(f["size"] for f in missing), wanted):
            log.warning("no room for %s on %s", title_id, self.oca.id)
            return False
        gate = asyncio.Semaphore(PARALLEL_FILES)

        async def one(entry: dict[str, Any]) -> bool:
            async with gate:
                return await self._fetch_file(title_id, entry, title["sources"], title["origin"])

        results = await asyncio.gather(*(one(entry) for entry in missing))
        self.on_change()
        if all(results):
            log.info("filled %s on %s (%d files)", title_id, self.oca.id, len(missing))
        return all(results)

    def _make_room(self, needed: int, wanted: set[str]) -> bool:
        """Evict what the plan no longer wants, only as much as this title needs."""
        if needed <= self.store.free_bytes:
            return True
        for content_id in [c for c in self.store.sizes if c not in wanted]:
            self.evicted += 1
            self.store.evict(content_id)
            if needed <= self.store.free_bytes:
                break
        for title_id, files in list(self.store.titles.items()):
            ids = files.values()
            if not any(self.store.has(c) or c in wanted for c in ids):
                self.store.drop_title(title_id)  # wholly evicted and not wanted back
        return needed <= self.store.free_bytes

    # ---- one file ------------------------------------------------------------------------------

    async def _fetch_file(
        self, title_id: str, entry: dict[str, Any], sources: list[dict[str, Any]], origin: bool
    ) -> bool:
        attempts: list[tuple[str, str, Callable[[int], AsyncIterator[bytes]]]] = [
            (s["kind"], s["oca_id"], self._from_oca(s, title_id, entry["name"])) for s in sources
        ]
        if origin and self.origin is not None:
            attempts.append(("origin", "origin", self._from_origin(title_id, entry["name"])))
        content_id = entry["content_id"]
        for kind, source, opener in attempts:
            started = time.monotonic()
            try:
                count = await self._download(content_id, opener)
                self.store.commit(content_id)
            except CorruptContentError:
                self.corrupt += 1
                self._record(title_id, entry, kind, source, 0, "corrupt", started)
                log.warning("%s from %s failed verification: refetching", entry["name"], source)
                continue
            except (SourceError, ReelcloudError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                self._record(title_id, entry, kind, source, 0, "error", started)
                log.info("%s from %s: %s", entry["name"], source, exc)
                continue
            self.bytes_by_source[kind] += count
            self.files_by_source[kind] += 1
            self._record(title_id, entry, kind, source, count, "ok", started)
            return True
        self.failed += 1
        return False

    async def _download(
        self, content_id: str, opener: Callable[[int], AsyncIterator[bytes]]
    ) -> int:
        """Append to the partial file from where it stopped; the bytes fetched this time."""
        partial = self.store.partial_path(content_id)
        offset = partial.stat().st_size if partial.exists() else 0
        fetched = 0
        # Chunk-sized writes into the page cache: cheaper inline than a thread hop each.
        with open(partial, "ab") as out:  # noqa: ASYNC230
            async for chunk in opener(offset):
                await self.rate.take(len(chunk))
                out.write(chunk)
                fetched += len(chunk)
        return fetched

    def _from_oca(
        self, source: dict[str, Any], title_id: str, name: str
    ) -> Callable[[int], AsyncIterator[bytes]]:
        async def chunks(offset: int) -> AsyncIterator[bytes]:
            assert self._session is not None
            network = client_network(self.oca.address, exact=True)
            token = self.signer.sign(title_id, network, int(time.time()) + 600)
            url = f"http://{source['address']}:{source['port']}/v/{token}/{title_id}/{name}"
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            async with self._session.get(url, headers=headers) as reply:
                if reply.status == 200 and offset:
                    self._restart(title_id, name)  # the source ignored the range
                elif reply.status not in (200, 206):
                    raise SourceError(f"HTTP {reply.status}")
                async for chunk in reply.content.iter_chunked(CHUNK_BYTES):
                    yield chunk

        return chunks

    def _from_origin(self, title_id: str, name: str) -> Callable[[int], AsyncIterator[bytes]]:
        async def chunks(offset: int) -> AsyncIterator[bytes]:
            assert self.origin is not None
            key = f"titles/{title_id}/{name}"
            async for chunk in self.origin.stream(ASSETS_BUCKET, key, start=offset):
                yield chunk

        return chunks

    def _restart(self, title_id: str, name: str) -> None:
        content_id = self.store.titles[title_id][name]
        self.store.partial_path(content_id).unlink(missing_ok=True)
        raise SourceError("range ignored: starting over")

    def _record(
        self,
        title_id: str,
        entry: dict[str, Any],
        kind: str,
        source: str,
        count: int,
        outcome: str,
        started: float,
    ) -> None:
        line = {
            "at": time.time(),
            "oca": self.oca.id,
            "title_id": title_id,
            "name": entry["name"],
            "content_id": entry["content_id"],
            "source_kind": kind,
            "source": source,
            "bytes": count,
            "outcome": outcome,
            "seconds": round(time.monotonic() - started, 3),
        }
        with open(self._log_path, "ab") as out:
            out.write(orjson.dumps(line) + b"\n")
