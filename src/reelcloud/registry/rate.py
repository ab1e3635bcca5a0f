"""Renewals counted per fixed window, like Eureka's MeasuredRate (renews in the last minute)."""

from __future__ import annotations

from reelcloud.platform.clock import Clock


class MeasuredRate:
    def __init__(self, clock: Clock, window_s: float) -> None:
        self._clock = clock
        self._window_s = window_s
        self._window_start = clock.monotonic()
        self._last_start = self._window_start
        self._current = 0
        self._last = 0
        self._complete_windows = 0

    def _roll(self) -> None:
        elapsed = int((self._clock.monotonic() - self._window_start) // self._window_s)
        if elapsed <= 0:
            return
        self._last = self._current if elapsed == 1 else 0
        self._current = 0
        self._window_start += elapsed * self._window_s
        self._last_start = self._window_start - self._window_s
        self._complete_windows += elapsed

    def increment(self) -> None:
        self._roll()
        self._current += 1

    def last_window(self) -> int:
        """Count in the last complete window (0 until one window has passed)."""
        self._roll()
        return self._last

    def has_complete_window(self, since: float = float("-inf")) -> bool:
        """Whether a whole window has been measured (one that began at or after `since`)."""
        self._roll()
        return self._complete_windows > 0 and self._last_start >= since
