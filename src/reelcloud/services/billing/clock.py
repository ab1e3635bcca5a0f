"""Billing's clock: the system's, or one that tests and simulations move forward (never
back), so a trial can end and a year of renewals run in seconds of real time."""

from __future__ import annotations

import time


class ControllableClock:
    """Real time plus an offset that `advance_to` only ever grows: time still flows (the
    renewal loop sees it move), and can jump ahead."""

    def __init__(self) -> None:
        self._offset_s = 0.0

    def now(self) -> float:
        return time.time() + self._offset_s

    def monotonic(self) -> float:
        return time.monotonic()

    def advance_to(self, when: float) -> None:
        self._offset_s = max(self._offset_s, when - time.time())
