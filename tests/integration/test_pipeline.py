"""The router with real engines (JetStream, PostgreSQL for the lake's catalog, SeaweedFS for
its files): events reach their Iceberg table once each, however often they are delivered;
malformed ones go to the dead-letter stream with why, holding nothing up; routes reload on
an edit and a broken edit keeps the old ones; a new projected field adds a column; a replay
changes nothing; a router killed mid-stream loses nothing; and DuckDB answers SQL over it."""

from __future__ import annotations

import dataclasses
import time
import uuid

import aiohttp
import nats
import pytest
import pytest_asyncio
from confluent_kafka import Consumer, TopicPartition
from tests.support.pipeline import ADMIN, PipelineWorld
from tests.support.waiting import wait_for

from reelcloud.pipeline.api import ROUTER
from reelcloud.platform.events import Envelope
from reelcloud.platform.events.producer import ensure_stream
from reelcloud.platform.kafka import consumer_config

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROUTES = """
routes:
  - name: plays
    events: [play.started]
    project: [play_id, member_id, profile_id, title_id, device_id, country, rungs, ocas,
              steering_fallback, latency_ms]
    lake: plays
    topic: plays
    key: country
  - name: billing
    events: [member.signed_up]
    lake: billing
"""


def play_started(title: str = "t-1", country: str = "US", at: float | None = None) -> Envelope:
    return Envelope(
        id=uuid.uuid4().hex, type="play.started", version=1, time=at or time.time(),
        producer="test", seq=0, request_id=None,
        payload={
            "play_id": uuid.uuid4().hex, "member_id": "m-1", "profile_id": "p-1",
            "title_id": title, "device_id": "d-1", "country": country, "rungs": ["720p"],
            "ocas": ["oca-a-1"], "steering_fallback": False, "latency_ms": 12.5,
        },
    )  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(tmp_path_factory):
    world = PipelineWorld(
        tmp_path_factory.mktemp("pipeline"),
        {"pipeline": {"flush_interval_s": 0.3, "compact_min_files": 2}},
        ROUTES,
    )
    try:
        await world.start_engines()
        await world.start("pipeline")
        yield world
    finally:
        await world.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def js(engines):
    nc = await nats.connect(engines.nats.url)
    stream = nc.jetstream()
    await ensure_stream(stream)
    yield stream
    await nc.close()


async def publish(js, envelopes, msg_ids=True) -> None:
    for envelope in envelopes:
        headers = {"Nats-Msg-Id": envelope.id} if msg_ids else None
        await js.publish(envelope.subject, envelope.to_bytes(), headers=headers)


async def test_each_event_reaches_its_table_once_however_often_it_is_sent(engines, js):
    events = [play_started(title=f"dup-{n % 3}") for n in range(300)]
    await publish(js, events)
    # Sent again without message ids (a spool replayed after JetStream's window): the bus
    # stores them twice, the lake must not.
    await publish(js, events[:100], msg_ids=False)
    where = "title_id like 'dup-%'"
    await wait_for(lambda: engines.lake_count("plays", where) == 300, what="300 rows in plays")
    await wait_for(
        lambda: _duplicates_at_least(engines, 100), what="the 100 copies counted as duplicates"
    )
    routes = await engines.routes_status()
    rows = engines.lake(f"select count(distinct event_id), min(latency_ms), "
                              f"min(rungs) from plays where {where}")  # fmt: skip
    assert rows == [(300, 12.5, '["720p"]')]
    assert routes["plays"]["dead_lettered"] == 0


async def _duplicates_at_least(engines, n: int) -> bool:
    return (await engines.routes_status())["plays"]["duplicates"] >= n


async def test_malformed_events_are_dead_lettered_with_why_and_hold_nothing_up(engines, js):
    nc = await nats.connect(engines.nats.url)
    try:
        dead = await nc.jetstream().pull_subscribe("deadletter.plays", durable="test-dl")
        bad = play_started()
        broken = dataclasses.replace(bad, payload={"title_id": 7})
        await js.publish("events.play.started", b"{not json")
        await js.publish("events.play.started", broken.to_bytes())
        good = play_started(title="after-malformed")
        await publish(js, [good])
        await wait_for(lambda: engines.lake_count("plays", "title_id = 'after-malformed'") == 1,
                       what="the good event after the bad ones in the lake")  # fmt: skip
        letters = await dead.fetch(2, timeout=10)
        reasons = sorted(m.headers["Reelcloud-Reason"] for m in letters)
        assert reasons[0].startswith("bad play.started payload"), reasons
        assert reasons[1].startswith("not an event envelope"), reasons
        assert {m.data for m in letters} == {b"{not json", broken.to_bytes()}
    finally:
        await nc.close()


async def test_a_broken_edit_keeps_the_old_routes_and_a_good_one_adds_a_route(engines, js):
    router = engines.services["pipeline"].app[ROUTER]
    engines.routes_file.write_text(ROUTES + "  - name: [broken\n")
    await wait_for(lambda: router.routes.error is not None, what="the broken edit refused")
    await publish(js, [play_started(title="during-broken-edit")])
    await wait_for(lambda: engines.lake_count("plays", "title_id = 'during-broken-edit'") == 1,
                   what="the old routes still deliver")  # fmt: skip
    engines.routes_file.write_text(
        ROUTES
        + """
  - name: plays_gb
    events: [play.started]
    where: {country: [GB]}
    project: [title_id, country]
    lake: plays_gb
"""
    )
    await wait_for(lambda: "plays_gb" in router.workers, what="the new route running")
    assert router.routes.error is None
    await publish(
        js, [play_started(title="gb-1", country="GB"), play_started(title="fr-1", country="FR")]
    )
    await wait_for(lambda: engines.lake_count("plays_gb", "title_id = 'gb-1'") == 1,
                   what="the GB play in plays_gb")  # fmt: skip
    # Its consumer started from the beginning of the stream: every earlier GB-less play was
    # filtered, and the FR one too.
    assert engines.lake_count("plays_gb", "country <> 'GB'") == 0


def signed_up(member: str, country: str) -> Envelope:
    return Envelope(
        id=uuid.uuid4().hex, type="member.signed_up", version=1, time=time.time(),
        producer="test", seq=0, request_id=None,
        payload={"member_id": member, "subscription_id": "s-" + member, "at": time.time(),
                 "plan": "basic", "country": country, "trial": True},
    )  # fmt: skip


SIGNUPS = """
  - name: signups
    events: [member.signed_up]
    project: [{fields}]
    lake: signups
"""


async def test_a_new_projected_field_adds_a_column_old_rows_read_null(engines, js):
    router = engines.services["pipeline"].app[ROUTER]
    engines.routes_file.write_text(ROUTES + SIGNUPS.format(fields="member_id, plan"))
    await wait_for(lambda: "signups" in router.workers, what="the signups route running")
    await publish(js, [signed_up("before", "US")])
    await wait_for(lambda: engines.lake_count("signups", "member_id = 'before'") == 1,
                   what="the first row")  # fmt: skip
    engines.routes_file.write_text(ROUTES + SIGNUPS.format(fields="member_id, plan, country"))
    await wait_for(lambda: "country" in router.workers["signups"].columns.schema.names,
                   what="the edited route running")  # fmt: skip
    await publish(js, [signed_up("after", "GB")])
    await wait_for(lambda: engines.lake_count("signups", "member_id = 'after'") == 1,
                   what="the second row")  # fmt: skip
    rows = engines.lake("select member_id, plan, country from signups order by 1")
    assert rows == [("after", "basic", "GB"), ("before", "basic", None)]


async def test_replay_changes_nothing_and_counts_what_it_read(engines, js):
    before = engines.lake_count("plays")
    async with (
        aiohttp.ClientSession() as http,
        http.post(engines.services["pipeline"].url + "/pipeline/replay", headers=ADMIN,
                  json={"route": "plays", "since": 0}) as reply,
    ):  # fmt: skip
        assert reply.status == 200, await reply.text()
        result = await reply.json()
    assert result["read"] >= before
    assert result["delivered"] == 0
    assert engines.lake_count("plays") == before


async def test_a_router_stopped_mid_stream_loses_and_doubles_nothing(engines, js):
    events = [play_started(title=f"restart-{n}") for n in range(3000)]
    await publish(js, events[:1500])
    await engines.stop_service("pipeline")
    await publish(js, events[1500:])
    await engines.start("pipeline")
    await wait_for(lambda: engines.lake_count("plays", "title_id like 'restart-%'") == 3000,
                   what="all 3000 rows", timeout_s=60)  # fmt: skip
    rows = engines.lake("select count(distinct event_id) from plays "
                              "where title_id like 'restart-%'")  # fmt: skip
    assert rows == [(3000,)]


class TopicReader:
    """Every record of a topic from offset 0, read on (a test waits until it holds what it
    expects: Tansu's high watermark counts batches, so it cannot say where the end is)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.consumer = Consumer(consumer_config(bootstrap, "test-reader", "test-reader"))
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.records: dict[str, list[tuple[bytes, int]]] = {}  # event id -> (key, partition)

    def read(self) -> None:
        for message in self.consumer.consume(1000, 0.2):
            if message.error() is None:
                event = Envelope.from_bytes(message.value())
                self.records.setdefault(event.id, []).append((message.key(), message.partition()))

    def holds(self, ids: set[str]) -> bool:
        self.read()
        return ids <= self.records.keys()

    def close(self) -> None:
        self.consumer.close()


async def test_a_routes_events_reach_its_topic_keyed_by_its_field(engines, js):
    events = [play_started(title=f"topic-{n}", country=("US", "GB", "BR")[n % 3])
              for n in range(600)]  # fmt: skip
    await publish(js, events)
    reader = TopicReader(engines.kafka.url, "plays", partitions=4)
    try:
        ids = {event.id for event in events}
        await wait_for(lambda: reader.holds(ids), what=lambda: (
            f"600 events on the plays topic ({len(ids & reader.records.keys())} there)"
        ), timeout_s=60)  # fmt: skip
        by_country: dict[bytes, set[int]] = {}
        for event in events:
            for key, partition in reader.records[event.id]:
                assert key == event.payload["country"].encode()
                by_country.setdefault(key, set()).add(partition)
        # the key is the partitioning: one country, one partition
        assert all(len(partitions) == 1 for partitions in by_country.values()), by_country
    finally:
        reader.close()
    routes = await engines.routes_status()
    assert routes["plays"]["topic"] == "plays"
    assert routes["plays"]["topic_off"] is None
    assert routes["plays"]["published"] >= 600


async def test_the_broker_killed_mid_stream_the_topic_and_lake_lose_nothing(engines, js):
    events = [play_started(title=f"kafka-kill-{n}", country="SE") for n in range(2000)]
    await publish(js, events[:1000])
    engines.kafka.kill9()
    await engines.kafka.wait_dead()
    await publish(js, events[1000:])
    # The route retries the topic, holding back its bus acks and its next batches (a slow
    # sink slows its own route), until the broker is back.
    await wait_for(
        lambda: _sink_errors_at_least(engines, "plays", 1), what="the topic write failing"
    )
    await engines.kafka.start()
    await wait_for(lambda: engines.lake_count("plays", "title_id like 'kafka-kill-%'") == 2000,
                   what="all 2000 rows in the lake", timeout_s=90)  # fmt: skip
    reader = TopicReader(engines.kafka.url, "plays", partitions=4)
    try:
        ids = {event.id for event in events}
        await wait_for(lambda: reader.holds(ids), what=lambda: (
            f"2000 events on the plays topic ({len(ids & reader.records.keys())} there)"
        ), timeout_s=90)  # fmt: skip
    finally:
        reader.close()
    await wait_for(lambda: _route_settled(engines, "plays"), what="the plays route caught up")


def data_files(engines, event_type: str, hour: int) -> int:
    table = engines.services["pipeline"].app[ROUTER].lake.catalog.load_table("reelcloud.plays")
    return sum(
        1
        for row in table.inspect.files().select(["content", "partition"]).to_pylist()
        if row["content"] == 0
        and row["partition"] == {"event_type": event_type, "event_hour": hour}
    )


async def test_compaction_makes_a_closed_hours_small_files_one_and_changes_no_row(engines, js):
    hour = int(time.time() // 3600) - 3
    at = hour * 3600 + 60.0
    events = [play_started(title=f"compact-{n}", at=at + n) for n in range(300)]
    where = "title_id like 'compact-%'"
    for start in (0, 100, 200):  # three batches at least, a commit and a file each
        await publish(js, events[start : start + 100])
        await wait_for(lambda n=start + 100: engines.lake_count("plays", where) == n,
                       what=f"{start + 100} rows")  # fmt: skip
    files = data_files(engines, "play.started", hour)
    assert files >= 3
    router = engines.services["pipeline"].app[ROUTER]
    assert await router.compact(before_hour=hour) == []  # not closed yet: left alone
    done = await router.compact(before_hour=hour + 1)
    assert [(c.event_type, c.hour, c.files, c.rows) for c in done] == [
        ("play.started", hour, files, 300)
    ]
    assert data_files(engines, "play.started", hour) == 1
    assert engines.lake(f"select count(*), count(distinct event_id) from plays where {where}") == [
        (300, 300)
    ]
    assert await router.compact(before_hour=hour + 1) == []  # one file: nothing to do
    # and the ids still dedup: the same events again add nothing
    duplicates_before = (await engines.routes_status())["plays"]["duplicates"]
    await publish(js, events[:50], msg_ids=False)
    await wait_for(lambda: _duplicates_at_least(engines, duplicates_before + 50),
                   what="the 50 copies counted as duplicates")  # fmt: skip
    assert engines.lake_count("plays", where) == 300


@pytest.mark.parametrize("engine", ["seaweedfs", "postgres"])
async def test_the_lakes_engines_killed_mid_stream_lose_nothing(engines, js, engine):
    """kill -9 of the lake's object store, then of its catalog's database: the route retries
    the batch, holding its acks, and once the engine is back every event is there once."""
    events = [play_started(title=f"kill-{engine}-{n}") for n in range(2000)]
    where = f"title_id like 'kill-{engine}-%'"
    await publish(js, events[:1000])
    await wait_for(lambda: engines.lake_count("plays", where) == 1000, what="the first 1000")
    errors_before = (await engines.routes_status())["plays"]["errors"]
    await (engines.kill9_seaweed() if engine == "seaweedfs" else engines.postgres.kill9())
    await publish(js, events[1000:])
    await wait_for(lambda: _sink_errors_at_least(engines, "plays", errors_before + 1),
                   what=f"the lake write failing without {engine}")  # fmt: skip
    await (engines.start_seaweed() if engine == "seaweedfs" else engines.postgres.start())
    await wait_for(lambda: engines.lake_count("plays", where) == 2000, what="all 2000 rows",
                   timeout_s=90)  # fmt: skip
    rows = engines.lake(f"select count(distinct event_id) from plays where {where}")
    assert rows == [(2000,)]
    await wait_for(lambda: _route_settled(engines, "plays"), what="the plays route caught up")


async def _sink_errors_at_least(engines, route: str, n: int) -> bool:
    return (await engines.routes_status())[route]["errors"] >= n


async def _route_settled(engines, route: str) -> bool:
    found = (await engines.routes_status())[route]
    return found["pending"] == 0 and found["problem"] is None


async def test_bad_requests_get_clear_errors(engines):
    async with aiohttp.ClientSession() as http:
        async with http.get(engines.services["pipeline"].url + "/pipeline/status") as reply:
            assert reply.status == 401
        for body in (b"", b"{", b'{"route": "nope", "since": 0}', b'{"route": 1}'):
            async with http.post(engines.services["pipeline"].url + "/pipeline/replay", headers=ADMIN,
                                 data=body) as reply:  # fmt: skip
                assert reply.status in (400, 404), (body, reply.status)
                assert "error" in await reply.json()
