"""A headless player: streams a play like a real one and measures what a viewer would feel.

The playback clock runs at `speed` times real time: segments join a buffer when downloaded (init
sections and keys fetched once per rendition), playback drains it, and an empty buffer is a
rebuffer (counted, timed). Before the first segment the top candidates are probed (the init
section of the lowest rendition, a small file) and ranked (`selection.py`); the ABR rule
(`abr.py`) picks each segment's rung; a failed or timed-out download penalises that OCA and
the next one carries on from the same segment. Heartbeats carry the position and QoE every
`heartbeat_s` of playback, and the stop carries the final QoE.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reelcloud.client.abr import Abr, Observation
from reelcloud.client.hls import MediaPlaylist, Variant
from reelcloud.client.sdk import PlatformClient, Play
from reelcloud.client.selection import OcaSelector, Probe
from reelcloud.platform.errors import ReelcloudError

PROBE_CANDIDATES = 3


@dataclass
class QoE:
    startup_s: float | None = None
    rebuffers: int = 0
    rebuffer_s: float = 0.0
    played_s: float = 0.0
    bitrate_switches: int = 0
    oca_changes: int = 0
    errors: int = 0
    bits_played: float = 0.0  # sum of bitrate * duration, for the mean bitrate
    bytes_by_oca: Counter[str] = field(default_factory=Counter)
    rungs: Counter[int] = field(default_factory=Counter)  # segments per rendition height

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
            "played_s": round(self.played_s, 3),
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
        self._playlists: dict[str, MediaPlaylist] = {}
        self._keys: dict[str, bytes] = {}
        self._inits: set[str] = set()
        self._stalled = False

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

    # ---- the network -------------------------------------------------------------------------

    async def probe(self) -> None:
        pathways = self.play.multivariant.pathways[:PROBE_CANDIDATES]

        async def one(pathway: str) -> Probe:
            variant = self.play.multivariant.ladder(pathway)[0]
            started = time.monotonic()
            try:
                playlist = await self._playlist(variant.uri)
                assert playlist.init_uri is not None
                first = time.monotonic()
                data = await asyncio.wait_for(self.client.fetch(playlist.init_uri), 1.0)
                elapsed = max(time.monotonic() - first, 1e-4)
                return Probe(pathway, len(data) * 8 / elapsed, first - started)
            except (ReelcloudError, OSError, TimeoutError, AssertionError):
                return Probe(pathway, None, None)

        self.selector.rank(await asyncio.gather(*(one(p) for p in pathways)))

    async def _playlist(self, uri: str) -> MediaPlaylist:
        if uri not in self._playlists:
            self._playlists[uri] = await self.client.media_playlist(uri)
        return self._playlists[uri]

    async def _segment(self, variant: Variant, index: int) -> tuple[int, float]:
        """Fetch segment `index` of `variant` (and its audio); bytes and duration."""
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
            data = await asyncio.wait_for(
                self.client.segment(segment.uri, key, segment.sequence), self.segment_timeout_s
            )
            total += len(data)
            if uri == variant.uri:
                duration = segment.duration_s
        return total, duration

    # ---- playing -----------------------------------------------------------------------------

    async def run(self, watch_s: float | None = None) -> QoE:
        clicked = time.monotonic()
        await self.probe()
        pathway = self.selector.best()
        ladder = self.play.multivariant.ladder(pathway)
        first = await self._playlist(ladder[0].uri)
        segments = len(first.segments)
        segment_s = first.segments[0].duration_s if first.segments else 2.0
        rung, buffer_s, index = 0, 0.0, 0
        since, started = time.monotonic(), False
        next_beat = self.heartbeat_s
        last: tuple[float, int] | None = None
        while index < segments:
            if watch_s is not None and self.qoe.played_s >= watch_s:
                break
            buffer_s, since = self._drain(buffer_s, since, started)
            if buffer_s >= self.buffer_target_s:
                await asyncio.sleep(min(1.0, (buffer_s - self.buffer_target_s) / self.speed + 0.01))
                continue
            ladder = self.play.multivariant.ladder(pathway)
            rates = tuple(v.bandwidth for v in ladder)
            chosen = self.abr.choose(
                Observation(
                    buffer_s, rung, rates, segment_s,
                    last[0] if last else None, last[1] if last else None,
                )
            )  # fmt: skip
            if chosen != rung and started:
                self.qoe.bitrate_switches += 1
            rung = chosen
            began = time.monotonic()
            try:
                size, duration = await self._segment(ladder[rung], index)
            except (ReelcloudError, OSError, TimeoutError, IndexError):
                self.qoe.errors += 1
                self.selector.penalise(pathway)
                following = self.selector.best()
                if following != pathway:
                    self.qoe.oca_changes += 1
                pathway = following
                continue
            last = (time.monotonic() - began, size)
            self.qoe.bytes_by_oca[pathway] += size
            self.qoe.rungs[ladder[rung].height] += 1
            self.qoe.bits_played += ladder[rung].bandwidth * duration
            buffer_s, since = self._drain(buffer_s, since, started)
            buffer_s += duration
            self._stalled = False
            index += 1
            if not started:
                started = True
                self.qoe.startup_s = time.monotonic() - clicked
            if self.qoe.played_s >= next_beat:
                next_beat += self.heartbeat_s
                await self.client.heartbeat(self.play, self.qoe.played_s, self.qoe.summary())
            self.on_progress(
                {"oca": pathway, "height": ladder[rung].height, "buffer_s": round(buffer_s, 1)}
                | self.qoe.summary()
            )
        # Play out what is buffered; the end of the title is no stall.
        buffer_s, since = self._drain(buffer_s, since, started)
        if watch_s is not None:
            buffer_s = min(buffer_s, max(0.0, watch_s - self.qoe.played_s))
        await asyncio.sleep(buffer_s / self.speed)
        self.qoe.played_s += buffer_s
        await self.client.stop(self.play, self.qoe.played_s, self.qoe.summary())
        return self.qoe
