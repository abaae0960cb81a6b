"""Clocks a test moves by hand, so that no test depends on how fast this machine runs."""

from __future__ import annotations

import threading
import time


class ManualClock:
    """Seconds that pass only when the test says so (`advance`)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._now = start

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class HeldClock:
    """The machine's monotonic clock, which a test can stop for a number of readings.

    The soak stops it while another integration spends the throttle budget and for the first
    reading of the run that follows, so that run meets an empty bucket however slowly it
    starts; after that, time flows again and the run can recover as it would against Keap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held_at: float | None = None
        self._readings_left = 0

    def __call__(self) -> float:
        with self._lock:
            if self._held_at is not None:
                if self._readings_left > 0:
                    self._readings_left -= 1
                    return self._held_at
                self._held_at = None
            return time.monotonic()

    def hold(self) -> None:
        """Stop here until `release_after`."""
        with self._lock:
            self._held_at = time.monotonic()
            self._readings_left = 1_000_000

    def release_after(self, readings: int) -> None:
        """Still stopped for the next `readings` readings, then the machine's time again."""
        with self._lock:
            self._readings_left = readings
