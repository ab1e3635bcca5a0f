"""A load generator of virtual viewers, in one process on one event loop.

Viewers arrive as a Poisson process (`arrival_rate` per second) until `viewers` have come or
`duration_s` has passed. Each one sits in a network drawn from the mix (a source address in
that ISP's prefix), signs in (signing up on its first visit: viewer n uses the account
`viewer-<n // 4>`, a premium plan, so no account streams on more screens than it may), browses
the titles licensed in its country, picks one from a Zipf popularity over the catalog's
popularity order, plays it with the headless player for a random share of the title (never
past the end of the run), and stops.

Every viewer that arrived ends as a success (streamed and stopped cleanly) or a failure named
`<stage>:<code>` — `sign_in:invalid_credentials`, `play:stream_limit`, `playback:no_oca`,
`play:timeout`, … — so the report always adds up. Stream starts per second (SPS) is Netflix's
availability signal: how many plays got their first segment, per second of the run.
"""

from __future__ import annotations

import asyncio
import math
import random
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reelcloud.client.network import network_names, source_address
from reelcloud.client.player import HeadlessPlayer, QoE
from reelcloud.client.sdk import PlatformClient, Play
from reelcloud.client.watch import make_abr
from reelcloud.platform.errors import BadRequestError, NotFoundError, ReelcloudError
from reelcloud.platform.topology import OpenConnectConfig

VIEWERS_PER_ACCOUNT = 4  # a premium plan's screens
PASSWORD = "reelcloud-load"
# A viewer whose member is still pending (its sign-up's payment not made yet) waits this long.
SIGN_UP_WAIT_S = 30.0
SIGN_UP_POLL_S = 0.2
END_GRACE_S = 15.0  # after the run, for viewers to finish their stop
WAIT_POLL_S = 0.5  # how often the catalog is asked while every title is coming soon
TIERS = ("embedded", "ixp", "origin")


def parse_mix(text: str, openconnect: OpenConnectConfig) -> dict[str, float]:
    """`isp-a:0.5,isp-b:0.4,other:0.1` → weights that sum to 1."""
    known = network_names(openconnect)
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition(":")
        if name not in known:
            raise BadRequestError(f"no network {name!r} (known: {', '.join(known)})")
        try:
            mix[name] = float(weight) if weight else 1.0
        except ValueError:
            raise BadRequestError(f"{name}: the weight must be a number, not {weight!r}") from None
        if not math.isfinite(mix[name]) or mix[name] < 0:
            raise BadRequestError(f"the weight of {name} must be >= 0")
    total = sum(mix.values())
    if total <= 0:
        raise BadRequestError("the network mix needs at least one positive weight")
    return {name: weight / total for name, weight in mix.items()}


def zipf_pick(titles: list[dict[str, Any]], rng: random.Random, s: float = 1.0) -> dict[str, Any]:
    """A title drawn with weight 1/rank^s, ranks by the catalog's popularity."""
    ranked = sorted(titles, key=lambda t: (-float(t.get("popularity") or 0), t["id"]))
    weights = [1 / (rank**s) for rank in range(1, len(ranked) + 1)]
    return rng.choices(ranked, weights=weights)[0]


def tier_of(oca: dict[str, Any]) -> str:
    if oca.get("reason") == "fallback-origin":
        return "origin"
    return "embedded" if oca.get("kind") == "embedded" else "ixp"


def percentiles(values: list[float], *points: int) -> dict[str, float | None]:
    ordered = sorted(values)

    def at(p: int) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)], 2)

    return {f"p{p}": at(p) for p in points}


@dataclass
class Viewer:
    number: int
    network: str
    outcome: str = "watching"  # then "success" or "<stage>:<code>"
    play_latency_s: float | None = None
    qoe: QoE | None = None
    bytes_by_tier: Counter[str] = field(default_factory=Counter)

    @property
    def streamed(self) -> bool:
        """Got its first segment: a stream start."""
        return self.qoe is not None and self.qoe.startup_s is not None


@dataclass(frozen=True)
class LoadPlan:
    viewers: int
    duration_s: float
    arrival_rate: float  # viewers per second
    networks: dict[str, float]
    speed: float = 1.0
    abr: str = "bba"
    watch_share: tuple[float, float] = (0.3, 1.0)  # of the title, drawn uniformly
    zipf_s: float = 1.0
    seed: int | None = None
    # Right after `reelcloud up` the catalog lists titles as coming soon while the OCAs fill:
    # the run starts once one is playable (or after this long, to report what viewers meet).
    wait_for_title_s: float = 120.0


class LoadGenerator:
    def __init__(
        self,
        gateway: str,
        openconnect: OpenConnectConfig,
        plan: LoadPlan,
        *,
        on_progress: Callable[[dict[str, Any]], None] = lambda state: None,
    ) -> None:
        if plan.viewers < 1 or plan.duration_s <= 0 or plan.arrival_rate <= 0:
            raise BadRequestError("viewers, duration and arrival rate must be positive")
        make_abr(plan.abr)  # an unknown rule fails now, not in every viewer
        self.gateway = gateway
        self.openconnect = openconnect
        self.plan = plan
        self.on_progress = on_progress
        self.rng = random.Random(plan.seed)
        self.viewers: list[Viewer] = []
        self.timeline: list[dict[str, Any]] = []  # progress() once a second
        self._began = 0.0

    # ---- one viewer ------------------------------------------------------------------------

    async def _sign_in(self, client: PlatformClient, number: int) -> None:
        account = number // VIEWERS_PER_ACCOUNT
        email = f"viewer-{account}@load.reelcloud.test"
        try:
            await client.sign_in(email, PASSWORD)
        except ReelcloudError as exc:
            if exc.code != "invalid_credentials":
                raise
            try:
                await client.sign_up(
                    email, PASSWORD, name=f"Viewer {account}", country="US", plan="premium"
                )
            except ReelcloudError as taken:  # another viewer of this account got there first
                if taken.code != "email_taken":
                    raise
                await client.sign_in(email, PASSWORD)
        await self._until_signed_up(client, email)

    async def _until_signed_up(self, client: PlatformClient, email: str) -> None:
        """A member is pending until its first payment is made (a slow bank, or another viewer
        of the account still signing up), and a pending member may not play: a person would
        wait for the sign-up to finish, and so does a viewer, for a while."""
        deadline = time.monotonic() + SIGN_UP_WAIT_S
        while client.member.get("status") == "pending" and time.monotonic() < deadline:
            await asyncio.sleep(SIGN_UP_POLL_S)
            await client.sign_in(email, PASSWORD)

    async def _watch(self, viewer: Viewer) -> None:
        rng = random.Random(self.rng.random())
        address = source_address(self.openconnect, viewer.network, rng)
        stage = "sign_in"
        player: HeadlessPlayer | None = None
        play: Play | None = None
        try:
            async with PlatformClient(self.gateway, source_address=address) as client:
                await self._sign_in(client, viewer.number)
                stage = "browse"
                listed = await client.titles(country=client.member["country"])
                # A viewer presses Play only on what the page offers: not on "coming soon".
                titles = [t for t in listed if t.get("availability", "available") == "available"]
                if not titles:
                    what = "available yet" if listed else "licensed in this country"
                    raise NotFoundError(f"nothing is {what}", code="no_titles")
                title = zipf_pick(titles, rng, self.plan.zipf_s)
                stage = "play"
                began = time.monotonic()
                play = await client.play(title["id"])
                viewer.play_latency_s = time.monotonic() - began
                stage = "playback"
                player = HeadlessPlayer(
                    client, play, make_abr(self.plan.abr), speed=self.plan.speed
                )
                viewer.qoe = player.qoe
                left_s = (self._began + self.plan.duration_s - time.monotonic()) * self.plan.speed
                share = rng.uniform(*self.plan.watch_share) * float(title["duration_s"])
                await player.run(watch_s=max(0.1, min(share, left_s)))
                viewer.outcome = "success"
        except ReelcloudError as exc:
            viewer.outcome = f"{stage}:{exc.code}"
        except TimeoutError:
            viewer.outcome = f"{stage}:timeout"
        except asyncio.CancelledError:
            viewer.outcome = "success" if viewer.streamed else f"{stage}:cut_at_end"
            raise
        except Exception as exc:  # a bug or a malformed answer: named, never the whole run
            viewer.outcome = f"{stage}:{type(exc).__name__}"
        finally:
            if player is not None and play is not None:
                tiers = {o["oca_id"]: tier_of(o) for o in play.ocas}
                for oca_id, size in player.qoe.bytes_by_oca.items():
                    viewer.bytes_by_tier[tiers.get(oca_id, "ixp")] += size

    # ---- the run ---------------------------------------------------------------------------

    def progress(self) -> dict[str, Any]:
        outcomes = Counter(v.outcome for v in self.viewers)
        elapsed = time.monotonic() - self._began
        starts = sum(v.streamed for v in self.viewers)
        return {
            "elapsed_s": round(elapsed, 1),
            "arrived": len(self.viewers),
            "watching": outcomes["watching"],
            "succeeded": outcomes["success"],
            "failed": len(self.viewers) - outcomes["watching"] - outcomes["success"],
            "stream_starts": starts,
            "sps": round(starts / elapsed, 2) if elapsed > 0 else 0.0,
        }

    async def wait_until_playable(self) -> bool:
        """Until the catalog offers a title to play (progress says how many are coming soon);
        False when none was within `wait_for_title_s`."""
        deadline = time.monotonic() + self.plan.wait_for_title_s
        async with PlatformClient(self.gateway) as client:
            await self._sign_in(client, 0)
            while True:
                listed = await client.titles(country=client.member["country"])
                if any(t.get("availability", "available") == "available" for t in listed):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.on_progress({"waiting_for_title": True, "coming_soon": len(listed)})
                await asyncio.sleep(min(WAIT_POLL_S, remaining))

    async def run(self) -> dict[str, Any]:
        if self.plan.wait_for_title_s > 0:
            await self.wait_until_playable()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._began = time.monotonic()
        end = self._began + self.plan.duration_s
        names, weights = list(self.plan.networks), list(self.plan.networks.values())
        tasks: list[asyncio.Task[None]] = []
        reporter = asyncio.create_task(self._report_every_second())
        try:
            next_arrival = self._began
            while len(tasks) < self.plan.viewers and next_arrival < end:
                await asyncio.sleep(max(0.0, next_arrival - time.monotonic()))
                viewer = Viewer(len(tasks), self.rng.choices(names, weights=weights)[0])
                self.viewers.append(viewer)
                tasks.append(asyncio.create_task(self._watch(viewer)))
                next_arrival += self.rng.expovariate(self.plan.arrival_rate)
            if tasks:
                await asyncio.wait(tasks, timeout=max(0.0, end - time.monotonic()) + END_GRACE_S)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            reporter.cancel()
        wall = time.monotonic() - self._began
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        return self.report(wall, cpu_s)

    async def _report_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            state = self.progress()
            self.timeline.append(state)
            self.on_progress(state)

    def report(self, wall_s: float, cpu_s: float) -> dict[str, Any]:
        outcomes = Counter(v.outcome for v in self.viewers)
        failed = {k: n for k, n in sorted(outcomes.items()) if k != "success"}
        starts = sum(v.streamed for v in self.viewers)
        qoes = [v.qoe for v in self.viewers if v.qoe is not None and v.qoe.startup_s is not None]
        startups = [q.startup_s * 1000 for q in qoes if q.startup_s is not None]
        tiers: Counter[str] = Counter()
        for viewer in self.viewers:
            tiers.update(viewer.bytes_by_tier)
        latencies = [v.play_latency_s * 1000 for v in self.viewers if v.play_latency_s]
        return {
            "started": len(self.viewers),
            "succeeded": outcomes["success"],
            "failed": sum(failed.values()),
            "failed_by_reason": failed,
            "stream_starts": starts,
            "sps": round(starts / self.plan.duration_s, 3),
            "play_latency_ms": percentiles(latencies, 50, 90, 99),
            "qoe": {
                "startup_ms": percentiles(startups, 50, 90, 99),
                "rebuffer_ratio": percentiles([q.rebuffer_ratio for q in qoes], 50, 90, 99),
                "mean_bitrate_kbps": percentiles(
                    [q.mean_bitrate_bps / 1000 for q in qoes], 10, 50, 90
                ),
                "rebuffers_per_play": (
                    round(sum(q.rebuffers for q in qoes) / len(qoes), 3) if qoes else None
                ),
                "oca_changes": sum(q.oca_changes for q in qoes),
                "played_s": round(sum(q.played_s for q in qoes), 1),
            },
            "bytes_by_tier": {tier: tiers[tier] for tier in TIERS},
            "viewers_by_network": dict(Counter(v.network for v in self.viewers)),
            "startup_ms_all": sorted(round(ms, 2) for ms in startups),
            "timeline": self.timeline,
            "cpu": {
                "wall_s": round(wall_s, 2),
                "cpu_s": round(cpu_s, 2),
                "cores_used": round(cpu_s / wall_s, 3) if wall_s > 0 else 0.0,
            },
        }
