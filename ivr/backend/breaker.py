"""A circuit breaker shared by every call to one service: closed, open, half-open.

Closed: calls go through; `breaker_failures` failed calls in a row open it. Open: calls fail
at once (no network) until `reset_s` has passed, then it is half-open: one trial call goes
through (the others still fail fast); its success closes the breaker, its failure opens it
again for another `reset_s`. Thread-safe; the clock is injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker", "State"]

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures of whole calls (after their retries), not of attempts."""

    def __init__(self, failures: int, reset_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or reset_s < 0:
            raise ValueError("failures must be >= 1 and reset_s >= 0")
        self._limit = failures
        self._reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight

    @property
    def state(self) -> State:
        """The state now (an open breaker past its reset time reads half-open)."""
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self._reset_s else "open"

    def allow(self) -> bool:
        """Whether a call may go to the network now; a True in half-open is the one trial, and
        the caller must report it with `success` or `failure`."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial:
                self._trial = True
                return True
            return False

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial through (0 when it would now)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self._reset_s - self._clock())

    def success(self) -> None:
        """A call got an answer: the breaker closes and the count starts again."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False

    def failure(self) -> None:
        """A call failed: count it; the limit, or a failed trial, opens the breaker."""
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self._limit:
                self._opened_at = self._clock()
            self._trial = False
