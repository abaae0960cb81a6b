"""The pacer keeps its holds and spacing on the clock it is given, so these checks step time
themselves instead of sleeping through it."""

from __future__ import annotations

import contextvars
import threading
from types import SimpleNamespace

import pytest
from helpers.clocks import ManualClock

import hookctl.keap.waits
from hookctl.keap.waits import Pacer, WaitTooLong, pause
from hookctl.system.interrupts import Interrupted, watch

# Keap's throttle headers with one call of two left per minute: space calls 30 s apart.
NEARLY_SPENT = {
    "x-keap-tenant-throttle-available": "1",
    "x-keap-tenant-throttle-limit": "2",
    "x-keap-tenant-throttle-interval": "1",
    "x-keap-tenant-throttle-time-unit": "minute",
}


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause the pacer asks for, recorded instead of slept."""
    asked: list[float] = []
    monkeypatch.setattr(hookctl.keap.waits, "pause", asked.append)
    return asked


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
    waits: list[float],
) -> None:
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


def test_a_long_pause_ends_at_the_first_slice_after_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pause of an hour on a clock the test steps: it sleeps in slices of at most 0.1 s and
    # raises at the first slice after the run is interrupted, so Ctrl-C is noticed within 0.1 s
    # of waiting whatever the wait (the Ctrl-C test's child process shows the whole path).
    clock = ManualClock()
    stop = threading.Event()
    slices: list[float] = []

    def sleep(seconds: float) -> None:
        slices.append(seconds)
        clock.advance(seconds)
        if len(slices) == 3:
            stop.set()  # what Ctrl-C in the main thread does to every worker's run

    monkeypatch.setattr(hookctl.keap.waits, "time", SimpleNamespace(monotonic=clock, sleep=sleep))

    def wait_an_hour() -> None:
        watch(stop)
        pause(3600.0)

    with pytest.raises(Interrupted):
        contextvars.copy_context().run(wait_an_hour)
    assert slices == [0.1, 0.1, 0.1]


def test_an_answer_to_a_request_sent_before_the_budget_ran_low_does_not_lift_the_spacing(
    waits: list[float],
) -> None:
    clock = ManualClock()
    pacer = Pacer(clock=clock)
    # 600 calls a minute: 0.1 s a call once the budget is low.
    plenty = {**NEARLY_SPENT, "x-keap-tenant-throttle-limit": "600"}
    plenty["x-keap-tenant-throttle-available"] = "500"
    low = {**plenty, "x-keap-tenant-throttle-available": "5"}
    early = pacer.wait()  # sent before anyone knew the budget was low
    clock.advance(1.0)
    pacer.observe(low, pacer.wait())
    clock.advance(1.0)
    # The early request's answer, overtaken by a later one: plenty left, as there was then.
    pacer.observe(plenty, early)
    pacer.wait()
    pacer.wait()
    assert waits == [pytest.approx(0.1)]  # still spaced
    # A request sent after the budget was seen low brings news: the spacing goes.
    pacer.observe(plenty, pacer.wait())
    clock.advance(1.0)
    waits.clear()
    pacer.wait()
    pacer.wait()
    assert waits == []
