"""What producers and consumers count, as Prometheus metrics of the process that runs them.

One `EventMetrics` per process registry (a service makes it from `ServiceState.metrics` and
hands it to every producer and consumer it runs); without one, a producer or consumer counts
in a registry of its own, which is what tests read.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class EventMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.dead_lettered = Counter(
            "reelcloud_events_dead_lettered",
            "Events a producer can never publish, moved to its dead-letter file, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.consumer_up = Gauge(
            "reelcloud_events_consumer_up",
            "1 while the consumer is subscribed and consuming, 0 while it is down.",
            ["consumer"],
            registry=self.registry,
        )
        self.consumer_restarts = Counter(
            "reelcloud_events_consumer_restarts",
            "Times a consumer failed or ended and was started again.",
            ["consumer"],
            registry=self.registry,
        )
        self.fetches = Counter(
            "reelcloud_events_consumer_fetches",
            "Fetches a consumer made, empty ones included: it goes up while a consumer lives.",
            ["consumer"],
            registry=self.registry,
        )
        self.handled = Counter(
            "reelcloud_events_handled",
            "Events a consumer's handler took (acknowledged).",
            ["consumer"],
            registry=self.registry,
        )
        self.poison = Counter(
            "reelcloud_events_poison",
            "Events a consumer gave up on (terminated, not redelivered), by reason.",
            ["consumer", "reason"],
            registry=self.registry,
        )

    def value(self, name: str, **labels: str) -> float:
        """A sample's value (0 when it was never counted), for tests and status output."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found
