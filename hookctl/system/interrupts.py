"""Stopping every thread's writes when the run is interrupted. Ctrl-C reaches only the main
thread; work that writes calls check_interrupted() between writes, so that every account stops
sending. Here, apart from accounts and config, so that the applier imports nothing else."""

from __future__ import annotations

import contextvars
import threading

from hookctl.errors import HookctlError

__all__ = ["Interrupted", "check_interrupted", "interrupt", "watch"]

# Set when the run the current thread works for is interrupted.
_STOP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("stop", default=None)


class Interrupted(HookctlError):
    """The run this work belongs to was interrupted (Ctrl-C in the main thread)."""


def watch(stop: threading.Event) -> None:
    """Make check_interrupted() in the current context raise once `stop` is set."""
    _STOP.set(stop)


def interrupt() -> None:
    """Interrupt the run the calling thread works for, from a thread that caught Ctrl-C while
    it waits for others: their check_interrupted() raises from now on."""
    stop = _STOP.get()
    if stop is not None:
        stop.set()


def check_interrupted() -> None:
    """Raise Interrupted when the run the calling thread works for was interrupted."""
    stop = _STOP.get()
    if stop is not None and stop.is_set():
        raise Interrupted("interrupted")
