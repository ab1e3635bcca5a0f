"""A headless player: streams a play like a real one and measures what a viewer would feel.

The playback clock runs at `speed` times real time: segments join a buffer when downloaded
(init sections and keys fetched once per rendition), playback drains it, and an empty buffer
is a rebuffer (counted, timed). Before the first segment the top candidates are probed (the
lowest rendition's playlist and the first 64 KiB of its first segment) and ranked
(`selection.py`); the ABR rule (`abr.py`) picks each segment's rung. A failed, timed-out,
malformed or undecryptable download penalises that OCA and the next one carries on from the
same segment (a bad key is fetched again); when every OCA has failed the same segment too
often, the play ends with a `PlaybackError` that names the last failure, never a hang.
Steering's manifest is polled at its TTL: a new order moves the player to the new first
pathway, and a pathway that steering dropped is left at the next segment. Heartbeats carry
the position and QoE every `heartbeat_s` of playback, and the stop carries the final QoE.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reelcloud.client.abr import Abr, Observation
from reelcloud.client.hls import MediaPlaylist, Variant
from reelcloud.client.sdk import PlatformClient, Play, SegmentDecryptError
from reelcloud.client.selection import OcaSelector, Probe
from reelcloud.platform.errors import ReelcloudError

PROBE_CANDIDATES = 3
PROBE_BYTES = 64 * 1024  # of the first segment: enough to see a throughput, not a stall
PROBE_DEADLINE_S = 1.0
ATTEMPTS_PER_OCA = 2  # tries of one segment per OCA before the play gives up
RETRY_PAUSE_S = 0.25  # real time between tries once every OCA has failed recently
REPORT_EVERY_S = 0.5  # real time between progress reports while playing out the end
STEERING_RETRY_S = 5.0  # after a steering manifest could not be fetched or read
# What a failed download can raise; anything else is a bug and should surface.
FETCH_ERRORS = (ReelcloudError, TimeoutError, IndexError)


T = TypeVar("T")


class PlaybackError(ReelcloudError):
    """The play cannot go on: no OCA could deliver a segment."""


@dataclass
class QoE:
    startup_s: float | None = None
    rebuffers: int = 0
    rebuffer_s: float = 0.0
    played_s: float = 0.0
    bitrate_switches: int = 0
    oca_changes: int = 0
    errors: int = 0
    steering_updates: int = 0
    steering_errors: int = 0
    pathway_changes: list[dict[str, Any]] = field(default_factory=list)  # at, from, to, why
    bits_played: float = 0.0  # sum of bitrate * duration, for the mean bitrate
    bytes_by_oca: Counter[str] = field(default_factory=Counter)
    rungs: Counter[int] = field(default_factory=Counter)  # segments per rendition height
    height: int = 0  # of the rendition playing now
    pathway: str = ""  # the OCA serving now

    @property
    def mean_bitrate_bps(self) -> float:
        return self.bits_played / self.played_s if self.played_s else 0.0

    @property
    def rebuffer_ratio(self) -> float:
        total = self.played_s + self.rebuffer_s
        return self.rebuffer_s / total if total else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "startup_ms": None if self.startup_s is None else round(self.startup_s * 1000, 1),
            "rebuffers": self.rebuffers,
            "rebuffer_s": round(self.rebuffer_s, 3),
            "rebuffer_ratio": round(self.rebuffer_ratio, 4),
            "mean_bitrate_kbps": round(self.mean_bitrate_bps / 1000, 1),
            "bitrate_switches": self.bitrate_switches,
            "oca_changes": self.oca_changes,
            "errors": self.errors,
            "steering_updates": self.steering_updates,
            "played_s": round(self.played_s, 3),
            # what plays now: the pipeline counts plays per rendition and QoE per OCA by them
            **({"height": self.height} if self.height else {}),
            **({"pathway": self.pathway} if self.pathway else {}),
        }


class HeadlessPlayer:
    def __init__(
        self,
        client: PlatformClient,
        play: Play,
        abr: Abr,
        *,
        speed: float = 1.0,
        buffer_target_s: float = 30.0,
        heartbeat_s: float = 10.0,
        segment_timeout_s: float = 4.0,
        on_progress: Callable[[dict[str, Any]], None] = lambda state: None,
    ) -> None:
        self.client = client
        self.play = play
        self.abr = abr
        self.speed = speed
        self.buffer_target_s = buffer_target_s
        self.heartbeat_s = heartbeat_s
        self.segment_timeout_s = segment_timeout_s
        self.on_progress = on_progress
        self.qoe = QoE()
        self.selector = OcaSelector(play.multivariant.pathways)
        self.pathway = ""
        self._playlists: dict[str, MediaPlaylist] = {}
        self._keys: dict[str, bytes] = {}
        self._inits: set[str] = set()
        self._stalled = False
        self._steered = False  # steering's order changed since the last segment
        self._next_beat = heartbeat_s  # playback position of the next heartbeat
        self._height = 0  # of the rendition last fetched

    # ---- the playback clock -----------------------------------------------------------------

    def _drain(self, buffer_s: float, since: float, started: bool) -> tuple[float, float]:
        """Play out what the buffer holds for the wall time since `since` (times speed); time the
        buffer could not cover is a stall (one rebuffer per stall, however long)."""
        now = time.monotonic()
        if not started:
            return buffer_s, now
        wanted = (now - since) * self.speed
        played = min(buffer_s, wanted)
        self.qoe.played_s += played
        if wanted > played:
            if not self._stalled:
                self.qoe.rebuffers += 1
                self._stalled = True
            self.qoe.rebuffer_s += wanted - played
        return buffer_s - played, now

    # ---- OCAs and steering -------------------------------------------------------------------

    def _switch(self, to: str, why: str) -> None:
        if self.pathway and to != self.pathway:
            self.qoe.oca_changes += 1
            self.qoe.pathway_changes.append(
                {"at_s": round(self.qoe.played_s, 3), "from": self.pathway, "to": to, "why": why}
            )
        self.pathway = to

    async def probe(self) -> None:
        pathways = self.play.multivariant.pathways[:PROBE_CANDIDATES]

        async def one(pathway: str) -> Probe:
            variant = self.play.multivariant.ladder(pathway)[0]
            started = time.monotonic()
            try:
                playlist = await asyncio.wait_for(self._playlist(variant.uri), PROBE_DEADLINE_S)
                first = time.monotonic()
                data = await asyncio.wait_for(
                    self.client.fetch(playlist.segments[0].uri, first_bytes=PROBE_BYTES),
                    PROBE_DEADLINE_S,
                )
                elapsed = max(time.monotonic() - first, 1e-4)
                return Probe(pathway, len(data) * 8 / elapsed, first - started)
            except FETCH_ERRORS:
                return Probe(pathway, None, None)

        self.selector.rank(await asyncio.gather(*(one(p) for p in pathways)))

    async def poll_steering(self) -> None:
        """Follow steering's manifest for the whole play: first at once, then at each TTL. A
        manifest that cannot be fetched or read keeps the last order (retried later)."""
        url = self.play.multivariant.steering_uri
        known = set(self.play.multivariant.pathways)
        while url is not None:
            try:
                manifest = await self.client.steering(url)
            except FETCH_ERRORS:
                self.qoe.steering_errors += 1
                await asyncio.sleep(STEERING_RETRY_S)
                continue
            order = [p for p in manifest.pathways if p in known]
            if order and order != self.selector.order:
                self.selector.reorder(order)
                self.qoe.steering_updates += 1
                self._steered = True
            url = manifest.reload_uri or url
            await asyncio.sleep(manifest.ttl_s)

    async def _failover(self, what: str, attempt: Callable[[str], Awaitable[T]]) -> T:
        """`attempt(pathway)` on the current OCA, then on the next ones as they fail."""
        failures = 0
        limit = max(2, ATTEMPTS_PER_OCA * len(self.selector.order))
        while True:
            try:
                return await attempt(self.pathway)
            except FETCH_ERRORS as exc:
                failures += 1
                self.qoe.errors += 1
                if isinstance(exc, SegmentDecryptError):
                    self._keys.clear()  # perhaps the key was the bad part: fetch it again
                if failures >= limit:
                    raise PlaybackError(
                        f"{what} failed on every OCA ({failures} tries); last: {exc or 'timeout'}",
                        code="no_oca",
                    ) from None
                self.selector.penalise(self.pathway)
                self._switch(self.selector.best(), f"error: {getattr(exc, 'code', 'timeout')}")
                if self.selector.is_penalised(self.pathway):  # nothing fresh left: pause
                    await asyncio.sleep(min(RETRY_PAUSE_S * failures, 2.0))

    # ---- the network -------------------------------------------------------------------------

    async def _playlist(self, uri: str) -> MediaPlaylist:
        if uri not in self._playlists:
            self._playlists[uri] = await self.client.media_playlist(uri)
        return self._playlists[uri]

    def _variant(self, pathway: str, rung: int) -> Variant:
        ladder = self.play.multivariant.ladder(pathway)
        return ladder[min(rung, len(ladder) - 1)]

    async def _segment(self, variant: Variant, index: int) -> tuple[int, float, float]:
        """Fetch segment `index` of `variant` (and its audio); bytes, duration, seconds taken."""
        began = time.monotonic()
        total = 0
        duration = 0.0
        for uri in (variant.uri, variant.audio_uri):
            if uri is None:
                continue
            playlist = await self._playlist(uri)
            segment = playlist.segments[index]
            key = None
            if playlist.key_uri is not None:
                if playlist.key_uri not in self._keys:
                    self._keys[playlist.key_uri] = await self.client.key(playlist.key_uri)
                key = self._keys[playlist.key_uri]
            if playlist.init_uri is not None and playlist.init_uri not in self._inits:
                total += len(await self.client.fetch(playlist.init_uri))
                self._inits.add(playlist.init_uri)
            total += len(await self.client.segment(segment.uri, key, segment.sequence))
            if uri == variant.uri:
                duration = segment.duration_s
        return total, duration, time.monotonic() - began

    async def _timed_segment(self, rung: int, index: int, pathway: str) -> tuple[int, float, float]:
        return await asyncio.wait_for(
            self._segment(self._variant(pathway, rung), index), self.segment_timeout_s
        )

    # ---- playing -----------------------------------------------------------------------------

    async def run(self, watch_s: float | None = None) -> QoE:
        """Play from the start to the end (or for `watch_s` of playback), then stop. The stop is
        sent however the play ends; a `PlaybackError` says why it could not go on."""
        poller = None
        if self.play.multivariant.steering_uri is not None:
            poller = asyncio.create_task(self.poll_steering())
        try:
            await self._play(watch_s)
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            with contextlib.suppress(*FETCH_ERRORS):
                await self.client.stop(self.play, self.qoe.played_s, self.qoe.summary())
        return self.qoe

    async def _play(self, watch_s: float | None) -> None:
        clicked = time.monotonic()
        if not self.play.multivariant.variants:
            raise PlaybackError("the play offers no renditions", code="no_renditions")
        await self.probe()
        self._switch(self.selector.best(), "start")
        first = await self._failover(
            "the first playlist", lambda p: self._playlist(self._variant(p, 0).uri)
        )
        segments = len(first.segments)
        segment_s = first.segments[0].duration_s
        rung, buffer_s, index = 0, 0.0, 0
        since, started = time.monotonic(), False
        last: tuple[float, int] | None = None
        while index < segments:
            if watch_s is not None and self.qoe.played_s >= watch_s:
                break
            buffer_s, since = self._drain(buffer_s, since, started)
            if self._steered:
                self._steered = False
                self._switch(self.selector.best(), "steering")
            await self._maybe_heartbeat()
            self._report(buffer_s)
            if buffer_s >= self.buffer_target_s:
                await asyncio.sleep(min(0.5, (buffer_s - self.buffer_target_s) / self.speed + 0.01))
                continue
            rates = tuple(v.bandwidth for v in self.play.multivariant.ladder(self.pathway))
            chosen = self.abr.choose(
                Observation(
                    buffer_s, rung, rates, segment_s,
                    last[0] if last else None, last[1] if last else None,
                )
            )  # fmt: skip
            if chosen != rung and started:
                self.qoe.bitrate_switches += 1
            rung = chosen
            size, duration, took = await self._failover(
                f"segment {index}", functools.partial(self._timed_segment, rung, index)
            )
            last = (took, size)
            variant = self._variant(self.pathway, rung)
            self._height = variant.height
            self.qoe.bytes_by_oca[self.pathway] += size
            self.qoe.rungs[variant.height] += 1
            self.qoe.height, self.qoe.pathway = variant.height, self.pathway
            self.qoe.bits_played += variant.bandwidth * duration
            buffer_s, since = self._drain(buffer_s, since, started)
            buffer_s += duration
            self._stalled = False
            index += 1
            if not started:
                started = True
                self.qoe.startup_s = time.monotonic() - clicked
            self._report(buffer_s)
        # Play out what is buffered (heartbeats going on); the end of the title is no stall.
        buffer_s, since = self._drain(buffer_s, since, started)
        if watch_s is not None:
            buffer_s = min(buffer_s, max(0.0, watch_s - self.qoe.played_s))
        while buffer_s > 0:
            until_beat = max(0.0, self._next_beat - self.qoe.played_s) or buffer_s
            step = min(buffer_s, until_beat, REPORT_EVERY_S * self.speed)
            await asyncio.sleep(step / self.speed)
            self.qoe.played_s += step
            buffer_s -= step
            await self._maybe_heartbeat()
            self._report(buffer_s)

    def _report(self, buffer_s: float) -> None:
        state = {"oca": self.pathway, "height": self._height, "buffer_s": round(buffer_s, 1)}
        self.on_progress(state | self.qoe.summary())

    async def _maybe_heartbeat(self) -> None:
        if self.qoe.played_s < self._next_beat:
            return
        self._next_beat = self.qoe.played_s + self.heartbeat_s
        with contextlib.suppress(*FETCH_ERRORS):  # a lost heartbeat is no reason to stop
            await self.client.heartbeat(self.play, self.qoe.played_s, self.qoe.summary())
