"""The circuit breaker, with Hystrix's small interface: allow, mark success, mark failure,
is open. Breakers live in a registry that is injected, never in a module-level map."""

from __future__ import annotations

import logging
from enum import StrEnum

from reelcloud.platform.clock import Clock
from reelcloud.platform.resilience.config import CommandConfig
from reelcloud.platform.resilience.events import CommandEvent
from reelcloud.platform.resilience.rolling import RollingCounter

log = logging.getLogger(__name__)


class CircuitState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"  # one trial request is in flight


class CircuitBreaker:
    def __init__(self, name: str, clock: Clock, counter: RollingCounter) -> None:
        self.name = name
        self._clock = clock
        self._counter = counter
        self.state = CircuitState.CLOSED
        self._opened_at = 0.0

    def allow_request(self, config: CommandConfig) -> bool:
        """Closed: yes. Open: no, until the sleep window has passed; then exactly one trial
        request is let through (the state becomes HALF_OPEN until it completes)."""
        if config.force_open:
            return False
        if config.force_closed or not config.circuit_breaker_enabled:
            return True
        if self.state is CircuitState.CLOSED:
            return True
        sleep_over = self._clock.monotonic() >= self._opened_at + config.sleep_window_ms / 1000
        if self.state is CircuitState.OPEN and sleep_over:
            self.state = CircuitState.HALF_OPEN
            return True
        return False

    def mark_success(self) -> None:
        if self.state is CircuitState.HALF_OPEN:
            log.info("circuit %s closed: the trial request succeeded", self.name)
            self.state = CircuitState.CLOSED
            self._counter.reset()

    def mark_failure(self, config: CommandConfig) -> None:
        """A failed call: reopen after a failed trial, or open once the window's error
        percentage reaches the threshold with enough volume."""
        if self.state is CircuitState.HALF_OPEN:
            self._open("the trial request failed")
            return
        if self.state is CircuitState.CLOSED and config.circuit_breaker_enabled:
            total, errors = health_counts(self._counter)
            if total >= config.request_volume_threshold and (
                error_percentage(total, errors) >= config.error_threshold_percent
            ):
                self._open(f"{errors} errors in {total} requests")

    def is_open(self) -> bool:
        return self.state is not CircuitState.CLOSED

    def _open(self, reason: str) -> None:
        log.warning("circuit %s opened: %s", self.name, reason)
        self.state = CircuitState.OPEN
        self._opened_at = self._clock.monotonic()


def health_counts(counter: RollingCounter) -> tuple[int, int]:
    totals = counter.totals()
    total = (
        totals[CommandEvent.SUCCESS]
        + totals[CommandEvent.FAILURE]
        + totals[CommandEvent.TIMEOUT]
        + totals[CommandEvent.BULKHEAD_REJECTED]
    )
    return total, total - totals[CommandEvent.SUCCESS]


def error_percentage(total: int, errors: int) -> int:
    return int(errors / total * 100) if total else 0


class BreakerRegistry:
    def __init__(self) -> None:
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, name: str) -> CircuitBreaker | None:
        return self._breakers.get(name)

    def get_or_create(self, name: str, clock: Clock, counter: RollingCounter) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = self._breakers[name] = CircuitBreaker(name, clock, counter)
        return breaker

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._breakers.values())
