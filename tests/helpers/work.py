"""Work counted in function calls, for the tests that bound how much work hostile input can
cause: a count does not change with the machine's speed or load, a stopwatch does."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any


class Steps:
    """How many calls (Python functions and builtins) ran in this thread inside `counted()`."""

    def __init__(self) -> None:
        self.calls = 0


@contextlib.contextmanager
def counted() -> Iterator[Steps]:
    steps = Steps()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            steps.calls += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield steps
    finally:
        sys.setprofile(previous)
