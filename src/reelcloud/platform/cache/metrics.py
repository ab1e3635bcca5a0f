"""Prometheus views of a lookup cache's counters, read at scrape time (nothing is counted twice
on the hot path): lookups by kind and where the answer came from, and per-zone events of the
replicated store (read errors, skipped and failed writes of a zone that is down)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from reelcloud.platform.cache.lookup import LookupCache
from reelcloud.platform.cache.replicated import ReplicatedStore


class LookupCacheCollector:
    def __init__(self, cache: LookupCache, name: str) -> None:
        self.cache = cache
        self.name = name

    def collect(self) -> Iterator[Any]:
        lookups = CounterMetricFamily(
            "reelcloud_cache_lookups",
            "Cache-aside lookups by kind and by where the answer came from "
            "(near, replica, origin = the dependency, stale = fallback, failed).",
            labels=["cache", "kind", "source"],
        )
        for (kind, source), count in sorted(self.cache.outcomes.items()):
            lookups.add_metric([self.name, kind, source.value], count)
        yield lookups
        yield GaugeMetricFamily(
            "reelcloud_cache_near_entries",
            "Entries in the in-process near cache.",
            value=len(self.cache.near),
            labels=None,
        )
        events = CounterMetricFamily(
            "reelcloud_cache_events",
            "Replicated-store and background-write events (zone empty when not per zone).",
            labels=["cache", "event", "zone"],
        )
        for event, count in sorted(self.cache.stats.items()):
            events.add_metric([self.name, event, ""], count)
        store = None if self.cache.remote is None else self.cache.remote.store
        if isinstance(store, ReplicatedStore):
            for key, count in sorted(store.stats.items()):
                event, _, zone = key.partition(".")
                events.add_metric([self.name, event, zone], count)
        yield events
