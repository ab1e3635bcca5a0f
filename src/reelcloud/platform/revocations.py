"""Signed-out sessions and ended plays, known to every instance within a second.

Logout revokes the session in accounts' database (the truth) and puts `session.<sid>` into a
JetStream key-value bucket; stopping a play puts `play.<play_id>`. Every process that accepts
a session or a play (the gateways, the Play API, license) watches the bucket and keeps its
keys in memory, so the check on a request is a set lookup, never a call. A watcher that
reconnects reads the whole bucket again; entries expire after `MAX_AGE_S`, longer than any
session or play token lives. Without NATS nothing is shared: accounts' own check on each play
still stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Any

import nats
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError

from reelcloud.platform.errors import UnavailableError

log = logging.getLogger(__name__)

BUCKET = "reelcloud_revocations"
MAX_AGE_S = 2 * 24 * 3600  # session tokens live 24 h by default, play tokens less
SESSION, PLAY = "session", "play"
_KEY_PART = re.compile(r"[A-Za-z0-9_=-]{1,128}")
_RETRY_S = (0.2, 0.5, 1.0, 2.0)
PRUNE_EVERY_S = 3600.0


class Revocations:
    """`watch`: keep the bucket's keys in memory (processes that check); writers that never
    check (accounts) only put."""

    def __init__(self, nats_url: str | None, *, watch: bool = True) -> None:
        self._url = nats_url or ""
        self._watch = watch
        self._seen: dict[str, float] = {}  # key → when this process learnt of it
        self._nc: Any = None
        self._kv: Any = None
        self._task: asyncio.Task[None] | None = None
        self._reconnected = asyncio.Event()
        self._pruned_at = time.monotonic()
        self.synced = asyncio.Event()  # the whole bucket was read once

    # ---- checks (every request) ------------------------------------------------------------

    def session_revoked(self, session_id: str) -> bool:
        return f"{SESSION}.{session_id}" in self._seen

    def play_ended(self, play_id: str) -> bool:
        return f"{PLAY}.{play_id}" in self._seen

    # ---- writes ---------------------------------------------------------------------------

    async def revoke_session(self, session_id: str) -> None:
        await self._put(SESSION, session_id)

    async def end_play(self, play_id: str) -> None:
        await self._put(PLAY, play_id)

    async def _put(self, kind: str, name: str) -> None:
        if not _KEY_PART.fullmatch(name):
            return  # not an id this platform makes: nothing could present it
        key = f"{kind}.{name}"
        self._seen[key] = time.monotonic()  # this instance knows at once
        if not self._url:
            return  # no bus: this process is all there is to tell
        if self._kv is None:
            raise UnavailableError("revocations are not shared: the event bus is unreachable")
        try:
            await self._kv.put(key, str(int(time.time())).encode())
        except Exception as exc:
            raise UnavailableError(f"revocations are not shared: {exc}") from exc

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._url:
            self._task = asyncio.create_task(self._run(), name="revocations")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                if self._nc is None:
                    self._nc = await nats.connect(
                        self._url,
                        connect_timeout=2,
                        max_reconnect_attempts=-1,
                        allow_reconnect=True,
                        reconnected_cb=self._on_reconnect,
                        error_cb=_quiet,
                        disconnected_cb=_quiet_event,
                    )
                self._kv = await _bucket(self._nc.jetstream())
                attempt = 0
                if not self._watch:
                    self.synced.set()
                    await self._reconnected.wait()  # nothing to do until then
                else:
                    await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("revocations: %s; retrying", exc)
                await asyncio.sleep(_RETRY_S[min(attempt, len(_RETRY_S) - 1)])
                attempt += 1
            self._reconnected.clear()

    async def _follow(self) -> None:
        """Read the bucket, then every change, until the connection is re-established (a
        server restart may have lost the watcher's consumer: read it all again)."""
        watcher = await self._kv.watchall(ignore_deletes=True)
        reconnected = asyncio.create_task(self._reconnected.wait())
        try:
            while not reconnected.done():
                update = asyncio.create_task(watcher.updates(timeout=3600))
                done, _ = await asyncio.wait(
                    {update, reconnected}, return_when=asyncio.FIRST_COMPLETED
                )
                if update not in done:
                    update.cancel()
                    break
                with contextlib.suppress(nats.errors.TimeoutError):
                    entry = update.result()
                    if entry is None:  # the end of what the bucket held
                        self.synced.set()
                    elif entry.operation is None:
                        self._seen[entry.key] = time.monotonic()
                self._forget_expired()
        finally:
            reconnected.cancel()
            with contextlib.suppress(Exception):
                await watcher.stop()

    def _forget_expired(self) -> None:
        """The bucket drops entries after MAX_AGE_S without telling watchers: so do we (an
        entry is kept from when this process learnt of it, so a little longer)."""
        now = time.monotonic()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            self._seen = {k: t for k, t in self._seen.items() if t >= now - MAX_AGE_S}

    async def _on_reconnect(self) -> None:
        self._reconnected.set()


async def _bucket(js: Any) -> Any:
    try:
        return await js.key_value(BUCKET)
    except BucketNotFoundError:
        config = KeyValueConfig(bucket=BUCKET, history=1, ttl=MAX_AGE_S)
        return await js.create_key_value(config=config)


async def _quiet(exc: Exception) -> None:
    log.debug("revocations: NATS: %s", exc)


async def _quiet_event() -> None:
    pass
