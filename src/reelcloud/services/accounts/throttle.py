"""Sign-in throttling: wrong passwords cost the guesser time, never the member their account.

Failures are counted per (account, client address) and per client address: a guesser on one
address gets a few tries per account, then one every `refill_s`; spraying many accounts from
one address hits the address's wider budget. A member signing in from their own address is
not locked out by someone else's guessing. Checked before the password is hashed, so refused
guesses cost no hashing either. Counters live in the instance (bounded LRU): with several
accounts instances a guesser's budget is at most multiplied by their number.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from reelcloud.platform.clock import Clock
from reelcloud.platform.errors import RequestError

MAX_TRACKED = 100_000


class TooManyAttemptsError(RequestError):
    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, math.ceil(retry_after_s))


@dataclass
class _Budget:
    tokens: float
    updated: float


class _Buckets:
    """Token buckets by key: `burst` failures at once, one more every `refill_s`."""

    def __init__(self, burst: int, refill_s: float, clock: Clock) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self.clock = clock
        self._budgets: OrderedDict[str, _Budget] = OrderedDict()

    def _current(self, key: str) -> _Budget:
        now = self.clock.now()
        budget = self._budgets.get(key)
        if budget is None:
            return _Budget(float(self.burst), now)
        budget.tokens = min(self.burst, budget.tokens + (now - budget.updated) / self.refill_s)
        budget.updated = now
        return budget

    def wait_s(self, key: str) -> float:
        """0 when a failure may still be spent now, else how long until one may."""
        budget = self._current(key)
        return 0.0 if budget.tokens >= 1 else (1 - budget.tokens) * self.refill_s

    def spend(self, key: str) -> None:
        budget = self._current(key)
        budget.tokens = max(0.0, budget.tokens - 1)
        self._budgets[key] = budget
        self._budgets.move_to_end(key)
        while len(self._budgets) > MAX_TRACKED:
            self._budgets.popitem(last=False)

    def forget(self, key: str) -> None:
        self._budgets.pop(key, None)


class SignInThrottle:
    def __init__(
        self,
        clock: Clock,
        *,
        per_account_burst: int = 5,
        per_account_refill_s: float = 20.0,
        per_address_burst: int = 50,
        per_address_refill_s: float = 2.0,
    ) -> None:
        self._accounts = _Buckets(per_account_burst, per_account_refill_s, clock)
        self._addresses = _Buckets(per_address_burst, per_address_refill_s, clock)

    def check(self, email: str, address: str) -> None:
        """TooManyAttemptsError while this address has spent its failures for this account
        (or for all accounts)."""
        wait_s = max(
            self._accounts.wait_s(f"{email}\x00{address}"), self._addresses.wait_s(address)
        )
        if wait_s > 0:
            raise TooManyAttemptsError(
                "too many failed sign-ins from this address: wait and try again",
                retry_after_s=wait_s,
            )

    def failed(self, email: str, address: str) -> None:
        self._accounts.spend(f"{email}\x00{address}")
        self._addresses.spend(address)

    def succeeded(self, email: str, address: str) -> None:
        self._accounts.forget(f"{email}\x00{address}")
