"""The platform's Kafka client settings, in one place, and topic creation.

Every producer and consumer of the event pipeline's "consumer Kafka" (`REELCLOUD_KAFKA_URL`,
a bootstrap list `host:port[,host:port]`) starts from these dictionaries for confluent-kafka
(librdkafka), so what the broker tests proved is what runs:
`tests/integration/test_kafka_broker.py` checks them against the embedded broker (Tansu).

Delivery is at least once: producers retry what the broker did not acknowledge, consumers
commit after processing, and whoever writes the result drops copies by event id.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # defined there; the admin package re-exports it

from reelcloud.platform.errors import UnavailableError

# Each produce request becomes one object write per partition batch on the embedded broker
# (~200 PUTs a second): batch for a while rather than send records one by one.
LINGER_MS = 20
BATCH_SIZE_BYTES = 1_000_000
# The embedded broker takes about half the session timeout to hand out a group's first
# assignment, and this long to notice a dead member: short, as for a test, but not so short
# that a busy machine's pause drops a live member.
SESSION_TIMEOUT_MS = 6_000
HEARTBEAT_INTERVAL_MS = 1_500  # Kafka's rule: at most a third of the session timeout
DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000  # Kafka's own default
TOPIC_TIMEOUT_S = 30.0


def producer_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "acks": "all",
        # Off on purpose. Tansu 0.6 records an idempotent producer's sequence before it writes
        # the batch: a broker killed in between answers the retry DUPLICATE_SEQUENCE_NUMBER,
        # which librdkafka takes for "delivered", and an acknowledged record is gone
        # (test_idempotent_producer_loses_an_acknowledged_record). Without it a retry can
        # only add a copy, and copies are dropped by event id downstream.
        "enable.idempotence": False,
        # Without idempotence a retried batch could land behind a later one; one request in
        # flight keeps each partition in order (measured no slower here: batches grow).
        "max.in.flight.requests.per.connection": 1,
        "linger.ms": LINGER_MS,
        "batch.size": BATCH_SIZE_BYTES,
        "compression.type": "lz4",  # read back intact from the embedded broker (tested)
    }


def consumer_config(bootstrap: str, group: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        # Commit after processing, never before: a crash replays, it does not skip.
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
    }


def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    *,
    retention_ms: int = DEFAULT_RETENTION_MS,
    timeout_s: float = TOPIC_TIMEOUT_S,
) -> None:
    """Create each topic (name → partitions) unless it exists, with `retention.ms` set
    explicitly (Quix Streams reads it from the topic's configs and fails without it), and
    return once the broker's metadata lists each of them with its partitions. Blocking.

    A topic that exists is left as it is, partitions and configs included. Raises
    `UnavailableError` when the broker cannot be reached or refuses."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "reelcloud-topics"})
    futures = admin.create_topics(
        [
            NewTopic(name, partitions, config={"retention.ms": str(retention_ms)})
            for name, partitions in topics.items()
        ],
        request_timeout=timeout_s,
    )
    # A topic that was there may have fewer partitions than asked: wait for its name only.
    expected = {
        name: topics[name] if created_or_exists(name, future, timeout_s) else 1
        for name, future in futures.items()
    }
    deadline = time.monotonic() + timeout_s
    while True:
        missing = _not_listed(admin, expected)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise UnavailableError(
                "kafka topics are not ready",
                internal=f"not in the metadata of {bootstrap}: {missing}",
            )
        time.sleep(0.1)


def created_or_exists(name: str, future: Future[None], timeout_s: float) -> bool:
    """The outcome of one CreateTopics: created (True) and "already exists" (False) are both
    success; anything else is `UnavailableError`."""
    try:
        future.result(timeout_s)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise UnavailableError(
            "cannot create a kafka topic", internal=f"create topic {name}: {exc}"
        ) from exc
    except TimeoutError as exc:
        raise UnavailableError(
            "cannot create a kafka topic", internal=f"create topic {name}: no answer"
        ) from exc
    return True


def _not_listed(admin: AdminClient, topics: Mapping[str, int]) -> list[str]:
    try:
        metadata = admin.list_topics(timeout=5)
    except KafkaException:
        return list(topics)
    return [
        name
        for name, partitions in topics.items()
        if name not in metadata.topics or len(metadata.topics[name].partitions) < partitions
    ]
