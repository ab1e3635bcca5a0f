"""The router: one worker per route, each with its own durable consumer on the bus.

A worker gathers a batch (up to `batch_max` events, or what came in `flush_interval_s`),
checks every event (an envelope; a known type whose payload validates), writes the good ones
to the lake (and the route's consumer Kafka topic, if it names one) and the bad ones to the
dead-letter stream, then acknowledges each event of the batch. A crash before the acks
redelivers the batch; the lake drops what it already holds, the stream jobs drop copies by
event id. A sink that fails is retried with backoff, holding back only its own route: the
others have their own consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import StreamConfig
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from reelcloud.pipeline.models import ReplayResult, Route, RouteStatus
from reelcloud.pipeline.routes import RoutesWatcher, passes
from reelcloud.pipeline.settings import PipelineSettings
from reelcloud.pipeline.store import Columns, Compaction, Lake
from reelcloud.pipeline.topics import Record, TopicWriter
from reelcloud.platform.errors import BadRequestError, NotFoundError
from reelcloud.platform.events import EventConsumer, decode, event_types
from reelcloud.platform.events import play as _play_events  # noqa: F401  (types register)
from reelcloud.platform.events import titles as _title_events  # noqa: F401
from reelcloud.platform.events.metrics import EventMetrics
from reelcloud.platform.events.schema import STREAM, SUBJECT_PREFIX, Envelope
from reelcloud.platform.events.supervisor import Supervised

log = logging.getLogger(__name__)

DEAD_LETTER_STREAM = "DEADLETTER"
DEAD_LETTER_PREFIX = "deadletter"
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
FETCH_TIMEOUT_S = 0.2
IDLE_WAIT_S = 5.0
ACK_WAIT_S = 30.0
FETCH_MAX = 5_000
T = TypeVar("T")


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "reelcloud_pipeline_events", "Events a route handled, by outcome "
            "(delivered, duplicate, filtered, dead_lettered).", ["route", "outcome"],
            registry=registry,
        )  # fmt: skip
        self.sink_errors = Counter(
            "reelcloud_pipeline_sink_errors", "Failed sink writes (each retried).",
            ["route", "sink"], registry=registry,
        )  # fmt: skip
        self.pending = Gauge(
            "reelcloud_pipeline_lag_events", "Events in the stream a route has not "
            "acknowledged yet (its consumer's pending plus unacknowledged).", ["route"],
            registry=registry,
        )  # fmt: skip
        self.compacted_files = Counter(
            "reelcloud_pipeline_compacted_files", "Small lake files rewritten into one a "
            "partition.", ["table"], registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "reelcloud_pipeline_batch_seconds", "Time to write one batch to a sink.",
            ["route", "sink"], registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip


@dataclass
class Counts:
    delivered: int = 0
    published: int = 0
    duplicates: int = 0
    filtered: int = 0
    dead_lettered: int = 0
    errors: int = 0
    pending: int | None = None
    last_commit_at: float | None = None


@dataclass
class Checked:
    good: list[Envelope] = field(default_factory=list)
    bad: list[tuple[Msg, str]] = field(default_factory=list)  # message, why
    filtered: int = 0


def check(route: Route, messages: list[Msg]) -> Checked:
    """Sorts a batch into events for the sink, events to dead-letter, and filtered ones."""
    checked = Checked()
    for message in messages:
        try:
            envelope = Envelope.from_bytes(message.data)
            decode(envelope)
        except BadRequestError as exc:
            checked.bad.append((message, exc.message))
            continue
        if not route.accepts(envelope.type, envelope.version) or not passes(
            route, envelope.payload
        ):
            checked.filtered += 1
            continue
        checked.good.append(envelope)
    return checked


async def _give_back(batch: list[Msg]) -> None:
    """Unwritten events, for the next reader at once (not after the ack wait)."""
    with contextlib.suppress(Exception):
        for message in batch:
            await message.nak()


class RouteWorker:
    """One route: its durable consumer, its batches, its sinks. Supervised: whatever stops it
    (the bus gone, a bug) is logged and it starts again; `/readyz` names it while down."""

    def __init__(self, router: Router, route: Route) -> None:
        self.router = router
        self.route = route
        self.columns = Columns.of(route, event_types())
        self.counts = Counts()
        self.topic = router.topic_writer(route)
        self.supervised = Supervised(
            f"route {route.name}", self._consume, label=self.durable, metrics=router.events
        )
        # Checked after each fetch as well: a cancel can be lost in a fetch (see Supervised).
        self._stopping = False

    @property
    def durable(self) -> str:
        return f"pipeline-{self.route.name}"

    def subjects(self) -> list[str]:
        return sorted(f"{SUBJECT_PREFIX}.{event_type}" for event_type in self.route.types)

    def start(self) -> None:
        self.supervised.start()

    async def stop(self) -> None:
        self._stopping = True
        await self.supervised.aclose()
        if self.topic is not None:
            await asyncio.to_thread(self.topic.close)

    async def _consume(self, supervised: Supervised) -> None:
        options = self.router.options
        consumer = EventConsumer(
            self.router.nats_url, self.durable, subject=self.subjects(),
            # Each event is acknowledged on its own: an ack-all would also ack the events a
            # stopped router had been given and never wrote. What a killed router held comes
            # again after the ack wait; a stopped one gives its batch back at once.
            ack_wait_s=ACK_WAIT_S, max_ack_pending=options.batch_max * 4,
        )  # fmt: skip
        try:
            await consumer.start()
            supervised.ready()
            while True:
                batch = await self._gather(consumer)
                if self._stopping:
                    await _give_back(batch)
                    return
                if batch:
                    try:
                        await self._deliver(batch)
                    except asyncio.CancelledError:
                        await _give_back(batch)
                        raise
                    for message in batch:
                        await message.ack()
                    self.counts.last_commit_at = time.time()
                await self._measure_lag(consumer)
        finally:
            await consumer.aclose()

    async def _gather(self, consumer: EventConsumer) -> list[Msg]:
        """A batch: waits long for its first events (an idle route costs a request every few
        seconds), then takes what keeps coming, up to `batch_max` or `flush_interval_s`."""
        options = self.router.options
        batch = await consumer.fetch_messages(min(options.batch_max, FETCH_MAX), IDLE_WAIT_S)
        deadline = time.monotonic() + options.flush_interval_s
        while batch and len(batch) < options.batch_max:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = await consumer.fetch_messages(
                min(options.batch_max - len(batch), FETCH_MAX), min(left, FETCH_TIMEOUT_S)
            )
            if not got:
                break  # the stream is drained for now: write what came
            batch.extend(got)
        return batch

    async def _deliver(self, messages: list[Msg]) -> tuple[int, int]:
        """Writes a batch through to its sinks, retrying each until it takes it."""
        checked = check(self.route, messages)
        metrics = self.router.metrics
        name = self.route.name
        if checked.bad:
            await self._retry("deadletter", lambda: self.router.dead_letter(name, checked.bad))
            self.counts.dead_lettered += len(checked.bad)
            metrics.events.labels(name, "dead_lettered").inc(len(checked.bad))
        written = duplicates = 0
        if checked.good:

            async def write() -> tuple[int, int]:
                return await asyncio.to_thread(
                    self.router.lake.write, self.route.lake, self.columns, checked.good
                )

            written, duplicates = await self._retry("lake", write)
            if self.topic is not None:
                await self._publish(self.topic, checked.good)
        self.counts.delivered += written
        self.counts.duplicates += duplicates
        self.counts.filtered += checked.filtered
        metrics.events.labels(name, "delivered").inc(written)
        metrics.events.labels(name, "duplicate").inc(duplicates)
        metrics.events.labels(name, "filtered").inc(checked.filtered)
        return written, duplicates

    async def _publish(self, topic: TopicWriter, events: list[Envelope]) -> None:
        """Every event of the batch onto the route's topic, the lake's duplicates included:
        the lake may hold an event whose topic write a crash cut short."""
        records = [Record.of(envelope, self.route.key) for envelope in events]
        published = await self._retry("kafka", lambda: asyncio.to_thread(topic.write, records))
        self.counts.published += published
        self.router.metrics.events.labels(self.route.name, "published").inc(published)

    async def _retry(self, sink: str, attempt: Callable[[], Awaitable[T]]) -> T:
        wait = RETRY_FIRST_S
        while True:
            started = time.monotonic()
            try:
                result = await attempt()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.counts.errors += 1
                self.router.metrics.sink_errors.labels(self.route.name, sink).inc()
                log.warning("route %s: %s write failed (%s: %s); again in %.1f s",
                            self.route.name, sink, type(exc).__name__, exc, wait)  # fmt: skip
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_S)
                continue
            self.router.metrics.batch_seconds.labels(self.route.name, sink).observe(
                time.monotonic() - started
            )
            return result

    async def _measure_lag(self, consumer: EventConsumer) -> None:
        pending = await consumer.pending()
        if pending is not None:
            self.counts.pending = pending
            self.router.metrics.pending.labels(self.route.name).set(pending)

    async def replay(self, since: float) -> ReplayResult:
        """Reads the route's events from `since` again, through an ordered consumer of its
        own, and delivers them: the lake keeps what it has, and takes what it lacks (its
        topic takes them all again: the jobs drop copies by event id)."""
        nc = await nats.connect(self.router.nats_url, connect_timeout=2)
        result = ReplayResult(route=self.route.name, read=0, delivered=0, duplicates=0)
        try:
            js = nc.jetstream()
            last = (await js.stream_info(STREAM)).state.last_seq
            subscription = await js.subscribe(
                "", stream=STREAM, ordered_consumer=True,
                deliver_policy=nats.js.api.DeliverPolicy.BY_START_TIME,
                config=nats.js.api.ConsumerConfig(
                    filter_subjects=self.subjects(),
                    opt_start_time=datetime.datetime.fromtimestamp(since, datetime.UTC),
                ),
            )  # fmt: skip
            batch: list[Msg] = []
            done = False
            while not done:
                try:
                    message = await subscription.next_msg(timeout=2.0)
                except TimeoutError:
                    done = True  # nothing since then, or no more of this route's events
                else:
                    batch.append(message)
                    done = message.metadata.sequence.stream >= last
                if batch and (done or len(batch) >= self.router.options.batch_max):
                    delivered, duplicates = await self._deliver(batch)
                    result.read += len(batch)
                    result.delivered += delivered
                    result.duplicates += duplicates
                    batch = []
        finally:
            await nc.close()
        return result

    def status(self) -> RouteStatus:
        c = self.counts
        return RouteStatus(
            name=self.route.name, events=list(self.route.events), lake=self.route.lake,
            topic=self.route.topic if self.topic is not None else None,
            topic_off=self.router.topic_off(self.route),
            delivered=c.delivered, published=c.published, duplicates=c.duplicates,
            filtered=c.filtered, dead_lettered=c.dead_lettered, errors=c.errors,
            pending=c.pending, last_commit_at=c.last_commit_at,
            problem=self.supervised.problem(),
        )  # fmt: skip


class Router:
    def __init__(
        self,
        nats_url: str,
        lake: Lake,
        routes: RoutesWatcher,
        options: PipelineSettings,
        registry: CollectorRegistry,
        kafka_url: str | None = None,
    ) -> None:
        self.nats_url = nats_url
        self.kafka_url = kafka_url
        self.lake = lake
        self.routes = routes
        self.options = options
        self.metrics = RouterMetrics(registry)
        self.events = EventMetrics(registry)  # each route's consumer: up, restarts
        self.workers: dict[str, RouteWorker] = {}
        self._nc: NatsClient | None = None
        self._watch: asyncio.Task[None] | None = None
        self._compact: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._nc = await nats.connect(
            self.nats_url, connect_timeout=2, max_reconnect_attempts=-1, reconnect_time_wait=0.5
        )
        js = self._nc.jetstream()
        try:
            await js.stream_info(DEAD_LETTER_STREAM)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                StreamConfig(name=DEAD_LETTER_STREAM, subjects=[f"{DEAD_LETTER_PREFIX}.>"])
            )
        self._apply(self.routes.routes)
        self._watch = asyncio.create_task(self._watch_routes(), name="routes-watch")
        self._compact = asyncio.create_task(self._compact_lake(), name="lake-compaction")

    def topic_writer(self, route: Route) -> TopicWriter | None:
        if route.topic is None or self.kafka_url is None:
            return None
        return TopicWriter(
            self.kafka_url, route.topic, self.options.topic_partitions, f"pipeline-{route.name}"
        )

    def topic_off(self, route: Route) -> str | None:
        """Why a route's topic gets nothing (None: it gets every event)."""
        if route.topic is not None and self.kafka_url is None:
            return "no consumer Kafka configured (REELCLOUD_KAFKA_URL, or engines.kafka)"
        return None

    def problems(self) -> str | None:
        """Every route that does not consume now, and why (None: all do)."""
        down = [problem for w in self.workers.values() if (problem := w.supervised.problem())]
        return "; ".join(down) or None

    def _apply(self, routes: list[Route]) -> None:
        """Starts workers for new and changed routes, stops those gone; a route whose
        definition stayed the same keeps running untouched."""
        wanted = {route.name: route for route in routes}
        for name, worker in list(self.workers.items()):
            if wanted.get(name) != worker.route:
                stopping = asyncio.create_task(worker.stop())
                self._stopping.add(stopping)
                stopping.add_done_callback(self._stopping.discard)
                del self.workers[name]
        for name, route in wanted.items():
            if name not in self.workers:
                worker = RouteWorker(self, route)
                self.workers[name] = worker
                worker.start()

    async def _watch_routes(self) -> None:
        while True:
            await asyncio.sleep(self.options.reload_interval_s)
            try:
                if await asyncio.to_thread(self.routes.check):
                    self._apply(self.routes.routes)
            except Exception:
                log.exception("routes watch")

    async def _compact_lake(self) -> None:
        while True:
            await asyncio.sleep(self.options.compact_interval_s)
            await self.compact(before_hour=int(time.time() // 3600) - 1)

    async def compact(self, before_hour: int) -> list[Compaction]:
        """Each lake table's partitions before that hour, written in many small files, as
        one file each (what the periodic compaction runs)."""
        done: list[Compaction] = []
        for table in sorted({worker.route.lake for worker in self.workers.values()}):
            try:
                found = await asyncio.to_thread(
                    self.lake.compact, table, self.options.compact_min_files, before_hour
                )
            except Exception:
                log.exception("compacting lake table %s (tried again next time)", table)
                continue
            for compaction in found:
                self.metrics.compacted_files.labels(table).inc(compaction.files)
            done += found
        return done

    async def dead_letter(self, route: str, bad: list[tuple[Msg, str]]) -> None:
        assert self._nc is not None
        js = self._nc.jetstream()
        for message, why in bad:
            headers = {
                "Reelcloud-Reason": why[:1000].replace("\r", " ").replace("\n", " "),
                "Reelcloud-Route": route,
                "Reelcloud-Subject": message.subject,
                # the same message dead-lettered twice (a redelivered batch) is stored once
                "Nats-Msg-Id": f"{route}-{message.metadata.sequence.stream}",
            }
            await js.publish(f"{DEAD_LETTER_PREFIX}.{route}", message.data, headers=headers)

    async def replay(self, route: str, since: float) -> ReplayResult:
        worker = self.workers.get(route)
        if worker is None:
            raise NotFoundError(f"no route {route!r}")
        return await worker.replay(since)

    async def aclose(self) -> None:
        for task in (self._watch, self._compact):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(worker.stop() for worker in self.workers.values()))
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
