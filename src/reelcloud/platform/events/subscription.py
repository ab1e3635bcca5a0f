"""How a service consumes events: `EventSubscription`, a supervised durable consumer that hands
each event to the service's handler.

    subscription = EventSubscription(
        nats_url, "catalog", "events.title.encoded", publisher.handle_event, metrics=metrics
    )
    subscription.start()
    add_readiness_check(app, subscription.name, subscription.problem)  # /readyz

The handler returns once the event is handled (it is acknowledged) or raises (it is
redelivered after a backoff: `redeliver_after_s`, doubling, at most `MAX_REDELIVER_S`). After
`max_deliveries` deliveries that all raised, the event is a poison: it is terminated (AckTerm,
never redelivered), logged and counted (`reelcloud_events_poison_total`), and the consumer
goes on. A handler raises `UnavailableError` for a passing failure (a dependency down): it is
retried the same way, logged without a traceback.

The consumer runs `Supervised`: whatever stops it (the connection closed, the durable deleted
on the server, a bug) is logged and it starts again within 5 s. `problem()` is None while it is
subscribed and connected, else why not.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg

from reelcloud.platform.errors import BadRequestError, UnavailableError
from reelcloud.platform.events.consumer import EventConsumer
from reelcloud.platform.events.metrics import EventMetrics
from reelcloud.platform.events.schema import Envelope
from reelcloud.platform.events.supervisor import RestartBackoff, Supervised

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

MAX_DELIVERIES = 5
REDELIVER_AFTER_S = 1.0
MAX_REDELIVER_S = 30.0
FETCH_BATCH = 50
FETCH_TIMEOUT_S = 2.0


class EventSubscription:
    def __init__(
        self,
        nats_url: str,
        durable: str,
        subject: str,
        handler: Handler,
        *,
        metrics: EventMetrics | None = None,
        max_deliveries: int = MAX_DELIVERIES,
        redeliver_after_s: float = REDELIVER_AFTER_S,
        fetch_batch: int = FETCH_BATCH,
        fetch_timeout_s: float = FETCH_TIMEOUT_S,
        backoff: RestartBackoff | None = None,
    ) -> None:
        self._url = nats_url
        self.durable = durable
        self.subject = subject
        self.name = f"consumer {durable} ({subject})"
        self._handler = handler
        self.metrics = metrics if metrics is not None else EventMetrics()
        self.max_deliveries = max_deliveries
        self.redeliver_after_s = redeliver_after_s
        self._fetch_batch = fetch_batch
        self._fetch_timeout_s = fetch_timeout_s
        self.supervised = Supervised(
            self.name, self._consume, label=durable, metrics=self.metrics, backoff=backoff
        )
        self.handled = 0
        self.poisoned = 0

    def start(self) -> None:
        self.supervised.start()

    async def aclose(self) -> None:
        await self.supervised.aclose()

    def problem(self) -> str | None:
        """None while consuming, else why not (for `/readyz`)."""
        return self.supervised.problem()

    async def _consume(self, supervised: Supervised) -> None:
        def connection(connected: bool) -> None:
            if connected:
                supervised.ready()
            else:
                supervised.not_ready("disconnected from NATS")

        consumer = EventConsumer(
            self._url, self.durable, subject=self.subject, max_deliver=self.max_deliveries,
            on_connection=connection,
        )  # fmt: skip
        try:
            await consumer.start()
            supervised.ready()
            fetches = self.metrics.fetches.labels(self.durable)
            while True:
                messages = await consumer.fetch_messages(self._fetch_batch, self._fetch_timeout_s)
                fetches.inc()
                for message in messages:
                    await self._handle(message)
        finally:
            await consumer.aclose()

    async def _handle(self, message: Msg) -> None:
        try:
            envelope = Envelope.from_bytes(message.data)
        except BadRequestError as exc:
            self._poison(message, "unreadable", f"no event envelope: {exc.message}")
            await message.term()
            return
        delivery = message.metadata.num_delivered or 1
        try:
            await self._handler(envelope)
        except Exception as exc:
            if delivery >= self.max_deliveries:
                self._poison(message, "handler_failed", f"{type(exc).__name__}: {exc}", envelope)
                await message.term()
                return
            delay = min(self.redeliver_after_s * 2 ** (delivery - 1), MAX_REDELIVER_S)
            if isinstance(exc, UnavailableError):  # a dependency is down: nothing to debug
                log.warning(
                    "%s: %s %s not handled yet (%s); delivery %d of %d, again in %.1f s",
                    self.name, envelope.type, envelope.id, exc.message, delivery,
                    self.max_deliveries, delay,
                )  # fmt: skip
            else:
                log.exception(
                    "%s: %s %s failed; delivery %d of %d, again in %.1f s",
                    self.name, envelope.type, envelope.id, delivery, self.max_deliveries, delay,
                )  # fmt: skip
            await message.nak(delay=delay)
            return
        await message.ack()
        self.handled += 1
        self.metrics.handled.labels(self.durable).inc()

    def _poison(
        self, message: Msg, reason: str, why: str, envelope: Envelope | None = None
    ) -> None:
        self.poisoned += 1
        self.metrics.poison.labels(self.durable, reason).inc()
        stream_seq = message.metadata.sequence.stream if message.metadata.sequence else "?"
        log.error(
            "%s: gave up on %s (stream sequence %s) after %d deliveries: %s; terminated",
            self.name, envelope.id if envelope else "a message", stream_seq,
            message.metadata.num_delivered or 1, why,
        )  # fmt: skip
