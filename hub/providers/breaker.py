"""A circuit breaker per provider endpoint (per process).

After `threshold` consecutive failed attempts the circuit opens: runs fail at once with a
clear message instead of queueing behind a dead provider. After `cooldown` seconds one trial
request is let through (half-open); its success closes the circuit, its failure re-opens it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        #: Monotonic seconds; replaceable so tests can pass the cooldown without waiting.
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        if self._trial_in_flight or self.failures >= self.threshold:
            self.opened_at = self.clock()
        self._trial_in_flight = False


_breakers: dict[str, CircuitBreaker] = {}


def breaker_for(key: str, threshold: int, cooldown: float) -> CircuitBreaker:
    b = _breakers.get(key)
    if b is None:
        b = _breakers[key] = CircuitBreaker(threshold, cooldown)
    return b
