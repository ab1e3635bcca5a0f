"""The consumer Kafka sink: a route's events, as their envelopes, onto the route's topic.

The stream jobs read these topics. A record's value is the event's envelope (JSON, as it
came off the bus), its key the payload field the route names (same key, same partition,
so a job keyed by it needs no repartitioning), its timestamp the event's time.

A batch counts as written once the broker acknowledged every record of it: the router acks
the bus only then. Delivery is at least once (a retried batch, a redelivered one after a
crash, may write a record twice), and the jobs drop copies by event id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.events.schema import Envelope
from reelcloud.platform.kafka import ensure_topics, producer_config

# Every record's outcome is known within this (delivered, or failed for the retry), so a
# write never waits on a broker that is gone for longer.
DELIVERY_TIMEOUT_MS = 20_000


@dataclass(frozen=True)
class Record:
    event_id: str
    key: bytes | None
    value: bytes
    timestamp_ms: int

    @classmethod
    def of(cls, envelope: Envelope, key_field: str | None) -> Record:
        key = envelope.payload.get(key_field) if key_field else None
        return cls(
            event_id=envelope.id,
            key=None if key is None else str(key).encode(),
            value=envelope.to_bytes(),
            timestamp_ms=int(envelope.time * 1000),
        )


class TopicWriter:
    """One route's producer: its own, so a slow topic holds back only its own route.
    Blocking (the router calls it in a thread)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, client_id: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self._producer = Producer(
            {**producer_config(bootstrap, client_id), "delivery.timeout.ms": DELIVERY_TIMEOUT_MS}
        )
        self._lock = threading.Lock()  # one batch at a time: its failures are its own
        self._created = False
        # Of the batch being written: what the broker took already. The router retries a
        # batch whole until it is written; a retry sends only what is missing.
        self._acked: set[str] = set()

    def write(self, records: list[Record]) -> int:
        """Writes every record the broker has not acknowledged yet, waits for each outcome,
        and returns how many it wrote; `UnavailableError` when some failed (call again with
        the same batch: only those are sent again)."""
        with self._lock:
            if not self._created:
                ensure_topics(self.bootstrap, {self.topic: self.partitions})
                self._created = True
            failures: list[str] = []

            def outcome(event_id: str) -> Callable[[KafkaError | None, Message], None]:
                def delivered(error: KafkaError | None, _message: Message) -> None:
                    if error is None:
                        self._acked.add(event_id)
                    else:
                        failures.append(str(error))

                return delivered

            sending = [record for record in records if record.event_id not in self._acked]
            for record in sending:
                self._produce(record, outcome(record.event_id))
            self._producer.flush()  # returns within the delivery timeout
            if failures:
                raise UnavailableError(
                    "kafka refused records",
                    internal=f"{len(failures)} records to {self.topic} failed: {failures[0]}",
                )
            self._acked.clear()
            return len(sending)

    def _produce(
        self, record: Record, delivered: Callable[[KafkaError | None, Message], None]
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    self.topic, record.value, record.key,
                    timestamp=record.timestamp_ms, on_delivery=delivered,
                )  # fmt: skip
                return
            except BufferError:  # the local queue is full: let it drain, then go on
                self._producer.poll(0.1)

    def close(self) -> None:
        self._producer.flush(5.0)
