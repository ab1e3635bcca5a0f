"""The platform's Kafka settings and how a CreateTopics outcome is read (the broker itself:
tests/integration/test_kafka_broker.py)."""

from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError, KafkaException

from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.kafka import consumer_config, created_or_exists, producer_config


def outcome(error: int | None) -> Future[None]:
    future: Future[None] = Future()
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(KafkaException(KafkaError(error)))
    return future


def test_a_created_topic_is_success():
    assert created_or_exists("plays", outcome(None), 1) is True


def test_an_existing_topic_is_success_too():
    assert created_or_exists("plays", outcome(KafkaError.TOPIC_ALREADY_EXISTS), 1) is False


def test_any_other_refusal_is_unavailable_and_names_the_topic():
    with pytest.raises(UnavailableError) as caught:
        created_or_exists("plays", outcome(KafkaError.POLICY_VIOLATION), 1)
    assert "plays" in str(caught.value)
    assert isinstance(caught.value.__cause__, KafkaException)


def test_no_answer_is_unavailable():
    never: Future[None] = Future()
    with pytest.raises(UnavailableError):
        created_or_exists("plays", never, 0.01)


def test_producers_wait_for_every_replica_without_idempotence():
    config = producer_config("127.0.0.1:9092", "router")
    assert config["acks"] == "all"
    # The embedded broker loses acknowledged records of idempotent producers on a crash.
    assert config["enable.idempotence"] is False
    assert config["max.in.flight.requests.per.connection"] == 1  # in order across retries
    assert config["linger.ms"] >= 20  # one object write per request: batch


def test_consumers_commit_by_hand_and_heartbeat_within_the_session():
    config = consumer_config("127.0.0.1:9092", "trending", "trending-1")
    assert config["enable.auto.commit"] is False
    assert config["auto.offset.reset"] == "earliest"
    assert config["heartbeat.interval.ms"] * 3 <= config["session.timeout.ms"] <= 10_000
