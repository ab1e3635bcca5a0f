"""The stream jobs with real engines, end to end: events published on JetStream go through
the router to the lake and the consumer Kafka (Tansu), the jobs (Quix Streams) count them,
and what they serve matches SQL over the lake for the same windows, copies included:

- trending per country: the top titles of the current hour, as DuckDB counts them;
- popularity: plays per title and rendition, each play once per height it streamed at;
- SPS: starts and refusals by reason per minute;
- QoE per OCA: start-ups once per play, rebuffer ratio and errors from running totals.
"""

from __future__ import annotations

import random
import shutil
import time
import uuid
from collections import Counter

import aiohttp
import nats
import pytest
import pytest_asyncio
from tests.support.pipeline import PipelineWorld
from tests.support.waiting import wait_for

from reelcloud.platform.events import Envelope
from reelcloud.platform.events.producer import ensure_stream

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.integration]

TITLES = [f"title-{n:02d}" for n in range(30)]  # more than the top 20
OCAS = ("oca-a-1", "oca-b-1")
HEIGHTS = (1080, 720, 480)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    running = PipelineWorld(
        tmp_path_factory.mktemp("jobs"),
        {"pipeline": {"flush_interval_s": 0.3}, "jobs": {"commit_interval_s": 0.5}},
        routes=None,  # the packaged routes: plays, play_progress, play_requests, ...
    )
    try:
        await running.start_engines()
        await running.start("pipeline")
        await running.start("jobs")
        yield running
    finally:
        await running.stop()


def envelope(event_type: str, payload: dict, at: float) -> Envelope:
    return Envelope(id=uuid.uuid4().hex, type=event_type, version=1, time=at,
                    producer="test", seq=0, request_id=None, payload=payload)  # fmt: skip


class Load:
    """A Zipf title mix in two countries, each play with two progress reports, some
    refusals, and copies of some events (sent again without a message id, as a spool replayed
    after JetStream's dedup window would): what the jobs must count, and what they must not."""

    def __init__(self, rng: random.Random, now: float) -> None:
        self.events: list[Envelope] = []
        self.copies: list[Envelope] = []
        self.startups: dict[str, list[float]] = {oca: [] for oca in OCAS}
        self.stalled: Counter[str] = Counter()
        self.watched: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.denials: Counter[str] = Counter()
        weights = [1 / (rank + 1) for rank in range(len(TITLES))]
        for n in range(600):
            country = "US" if n % 3 else "GB"
            title = rng.choices(TITLES, weights)[0]
            at = now - rng.uniform(0, 600)
            play = f"pl-{n}"
            oca = OCAS[n % 2]
            self.events.append(envelope("play.started", {
                "play_id": play, "member_id": "m", "profile_id": "p", "title_id": title,
                "device_id": "d", "country": country, "rungs": ["1080p"], "ocas": [oca],
                "steering_fallback": False, "latency_ms": 10.0,
            }, at))  # fmt: skip
            startup = round(rng.uniform(100, 2000), 1)
            self.startups[oca].append(startup)
            first, second = rng.choice(HEIGHTS), rng.choice(HEIGHTS)
            stall, errors = rng.choice((0.0, 0.0, 1.5)), rng.choice((0, 0, 1))
            for step, (height, kind) in enumerate(((first, "play.heartbeat"),
                                                   (second, "play.stopped"))):  # fmt: skip
                played = 10.0 * (step + 1)
                self.events.append(envelope(kind, {
                    "play_id": play, "member_id": "m", "profile_id": "p", "title_id": title,
                    "position_s": played,
                    "qoe": {"startup_ms": startup, "played_s": played, "height": height,
                            "rebuffer_s": stall * step, "errors": errors * step,
                            "pathway": oca, "bitrate_kbps": 3000.0},
                }, at + 10 * (step + 1)))  # fmt: skip
            self.watched[oca] += 20.0
            self.stalled[oca] += stall
            self.errors[oca] += errors
        for n in range(40):
            reason = ("no_stream_slot", "not_licensed")[n % 2]
            self.denials[reason] += 1
            self.events.append(envelope("play.denied", {
                "member_id": "m", "title_id": TITLES[n % 5], "reason": reason,
            }, now - rng.uniform(0, 600)))  # fmt: skip
        # The bus carries events about in the order they happened (windows close as event
        # time passes them; the copies, sent last, are late and dropped all the same).
        self.events.sort(key=lambda e: e.time)
        self.copies = rng.sample(self.events, 150)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def load(world):
    made = Load(random.Random(7), time.time())
    nc = await nats.connect(world.nats.url)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        for event in made.events:
            await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": event.id})
        for event in made.copies:
            await js.publish(event.subject, event.to_bytes())
    finally:
        await nc.close()
    return made


def _ms(column: str) -> str:
    return f"epoch_ms({column})"


async def test_trending_per_country_matches_the_lake_for_the_same_window(world, load):
    async def matches(country: str) -> bool:
        try:
            served = await world.get("jobs", f"/jobs/trending?country={country}")
        except AssertionError:  # 404: nothing counted yet
            return False
        lake = world.lake(
            f"select title_id, count(distinct event_id) n from plays where country = '{country}'"
            f" and {_ms('event_time')} >= {served['window_start']}"
            f" and {_ms('event_time')} < {served['window_end']}"
            " group by 1 order by 2 desc, 1 limit 20"
        )
        got = [(t["title_id"], t["plays"]) for t in served["titles"]]
        total = sum(1 for e in load.events if e.type == "play.started"
                    and e.payload["country"] == country)  # fmt: skip
        return got == lake and len(got) == 20 and sum(n for _, n in lake) <= total

    for country in ("US", "GB"):
        await wait_for(lambda c=country: matches(c), what=f"trending in {country} as the lake has it",
                       timeout_s=90, interval_s=0.5)  # fmt: skip
    countries = await world.get("jobs", "/jobs/trending")
    assert countries["countries"] == ["GB", "US"]


async def test_popularity_counts_each_play_once_per_rendition_it_streamed(world, load):
    expected: Counter[tuple[str, int]] = Counter()
    seen = set()
    for event in load.events:
        if event.type in ("play.heartbeat", "play.stopped"):
            at = (event.payload["play_id"], event.payload["qoe"]["height"])
            if at not in seen:
                seen.add(at)
                expected[(event.payload["title_id"], event.payload["qoe"]["height"])] += 1

    async def counted() -> bool:
        served = await world.get("jobs", "/jobs/popularity?days=2")
        return {(c["title_id"], c["height"]): c["plays"] for c in served["counts"]} == expected

    await wait_for(counted, what="plays per title and rendition", timeout_s=90, interval_s=0.5)
    lake = world.lake(
        "select title_id, cast(json_extract(qoe, '$.height') as integer) h,"
        " count(distinct play_id) from play_progress group by 1, 2"
    )
    assert {(t, h): n for t, h, n in lake} == expected


async def test_sps_counts_starts_and_refusals_by_reason(world, load):
    starts = sum(1 for e in load.events if e.type == "play.started")
    seen: list[tuple[int, Counter[str]]] = []

    async def counted() -> bool:
        minutes = (await world.get("jobs", "/jobs/sps?minutes=30"))["minutes"]
        failures: Counter[str] = Counter()
        for minute in minutes:
            failures.update(minute["failures"])
        seen[:] = [(sum(m["starts"] for m in minutes), failures)]
        return seen[0] == (starts, load.denials)

    await wait_for(counted, what=lambda: f"{starts} starts and {dict(load.denials)} refusals "
                   f"(last counted: {seen})", timeout_s=90, interval_s=0.5)  # fmt: skip
    minutes = (await world.get("jobs", "/jobs/sps?minutes=30"))["minutes"]
    assert all(m["sps"] == round(m["starts"] / 60, 3) for m in minutes)


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * p // 100)) - 1]


async def test_qoe_per_oca_counts_startups_once_and_stalls_from_running_totals(world, load):
    async def totals() -> dict | None:
        rows = (await world.get("jobs", "/jobs/qoe?minutes=30&span=all"))["minutes"]
        found = {row["oca"]: row for row in rows}
        if {oca: row["startups"] for oca, row in found.items()} != {
            oca: len(load.startups[oca]) for oca in OCAS
        }:
            return None
        return found

    found = await wait_for(totals, what="every play's start-up counted", timeout_s=90,
                           interval_s=0.5)  # fmt: skip
    for oca in OCAS:
        row = found[oca]
        assert row["reports"] == 2 * len(load.startups[oca])
        assert row["startup_p50_ms"] == nearest_rank(load.startups[oca], 50)
        assert row["startup_p95_ms"] == nearest_rank(load.startups[oca], 95)
        assert row["played_s"] == pytest.approx(load.watched[oca])
        assert row["rebuffer_s"] == pytest.approx(load.stalled[oca])
        assert row["rebuffer_ratio"] == pytest.approx(
            load.stalled[oca] / (load.watched[oca] + load.stalled[oca]), abs=1e-5
        )
        assert row["errors"] == load.errors[oca]
        assert row["mean_bitrate_kbps"] == 3000.0
    per_minute = (await world.get("jobs", "/jobs/qoe?minutes=30"))["minutes"]
    assert len(per_minute) > len(OCAS)  # ten minutes of plays, more than one row an OCA
    assert sum(row["startups"] for row in per_minute) == sum(map(len, load.startups.values()))


async def test_bad_queries_get_clear_errors(world):
    async with aiohttp.ClientSession() as http:
        for path in ("/jobs/trending?country=usa", "/jobs/trending?country=1",
                     "/jobs/sps?minutes=0", "/jobs/sps?minutes=x", "/jobs/qoe?minutes=99999999",
                     "/jobs/popularity?days=-1", "/jobs/qoe?span=week"):  # fmt: skip
            async with http.get(world.services["jobs"].url + path) as reply:
                assert reply.status == 400, path
                assert "error" in await reply.json()
        async with http.get(world.services["jobs"].url + "/jobs/trending?country=ZZ") as reply:
            assert reply.status == 404


async def test_jobs_restarted_without_their_local_state_recover_it_and_count_on(world, load):
    """The machine's disk lost: the jobs rebuild their windows and seen ids from the changelog
    topics, so what they count next adds to what they had, and old copies still drop."""
    before = await world.get("jobs", "/jobs/popularity?days=2")
    counted = {(c["title_id"], c["height"]): c["plays"] for c in before["counts"]}
    await world.stop_service("jobs")
    shutil.rmtree(world.root / "jobs" / "state")
    await world.start("jobs")
    now = time.time()
    fresh = [
        envelope("play.heartbeat", {
            "play_id": f"after-{n}", "member_id": "m", "profile_id": "p",
            "title_id": "title-after", "position_s": 10.0,
            "qoe": {"played_s": 10.0, "height": 720, "pathway": OCAS[0]},
        }, now)
        for n in range(25)
    ]  # fmt: skip
    nc = await nats.connect(world.nats.url)
    try:
        js = nc.jetstream()
        for event in fresh + load.copies:  # new plays, and copies of what was counted
            await js.publish(event.subject, event.to_bytes())
    finally:
        await nc.close()
    expected = {**counted, ("title-after", 720): 25}

    async def counts() -> bool:
        served = await world.get("jobs", "/jobs/popularity?days=2")
        return {(c["title_id"], c["height"]): c["plays"] for c in served["counts"]} == expected

    await wait_for(counts, what="the new plays added to the recovered counts", timeout_s=120,
                   interval_s=0.5)  # fmt: skip
