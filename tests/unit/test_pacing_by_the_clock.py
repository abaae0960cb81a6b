"""The pacer keeps its holds and spacing on the clock it is given, so these checks step time
themselves instead of sleeping through it."""

from __future__ import annotations

import pytest
from helpers.clocks import ManualClock

import hookctl.keap.waits
from hookctl.keap.waits import Pacer, WaitTooLong

# Keap's throttle headers with one call of two left per minute: space calls 30 s apart.
NEARLY_SPENT = {
    "x-keap-tenant-throttle-available": "1",
    "x-keap-tenant-throttle-limit": "2",
    "x-keap-tenant-throttle-interval": "1",
    "x-keap-tenant-throttle-time-unit": "minute",
}


def test_a_hold_lasts_until_the_pacers_clock_passes_it() -> None:
    clock = ManualClock()
    pacer = Pacer(clock=clock)
    pacer.hold(5.0, "Retry-After")
    held = pacer.held_beyond(4.0)
    assert isinstance(held, WaitTooLong) and held.seconds == 5.0
    clock.advance(2.0)
    assert pacer.held_beyond(4.0) is None
    with pytest.raises(WaitTooLong):
        pacer.wait(max_wait=2.5)


def test_requests_queued_at_once_each_wait_at_most_max_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(hookctl.keap.waits, "pause", waits.append)
    clock = ManualClock()
    pacer = Pacer(clock=clock)
    pacer.observe(NEARLY_SPENT)
    for _ in range(4):
        pacer.wait(max_wait=1.0)
    assert waits == [1.0, 1.0, 1.0]  # the first goes at once; none waits 30, 60 or 90 s
    clock.advance(31.0)
    waits.clear()
    pacer.wait(max_wait=60.0)
    pacer.wait(max_wait=60.0)
    assert waits == [30.0]  # within max_wait, the spacing Keap's headers ask for is kept
