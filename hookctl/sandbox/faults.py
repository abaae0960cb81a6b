"""Fault injection: latency, injected 500s, Keap-style throttling and commit-then-drop creates."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Faults:
    """What the sandbox does wrong on purpose. The defaults inject nothing.

    latency: seconds added to every Keap API call.
    error_rate: share (0..1) of API calls answered 500 before doing anything.
    throttle_rate: calls per second allowed (a token bucket holding one second's worth, at
        least one call); None turns throttling, and Keap's throttle headers, off.
    retry_after: whether a 429 carries a Retry-After header (Keap's may or may not).
    drop_after_create: the next N creates are committed, then the connection is closed
        without an answer.
    html_error_rate: share (0..1) of API calls answered 502 with an HTML page, as a gateway
        in front of Keap does; for clients' hostile-answer tests.
    seed: seeds the random choices (error_rate, html_error_rate) so a run can be repeated.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float | None = None
    retry_after: bool = True
    drop_after_create: int = 0
    html_error_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.latency < 0:
            raise ValueError("latency must be >= 0")
        for name in ("error_rate", "html_error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.throttle_rate is not None and self.throttle_rate <= 0:
            raise ValueError("throttle_rate must be > 0 (or null to switch throttling off)")
        if self.drop_after_create < 0:
            raise ValueError("drop_after_create must be >= 0")

    @classmethod
    def from_json(cls, data: Any) -> Faults:
        """Build from the admin call's JSON; unknown or mistyped fields are refused."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        for name, value in data.items():
            if not _json_type_ok(name, value):
                raise ValueError(f"{name}: wrong type {type(value).__name__}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _json_type_ok(name: str, value: Any) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name in ("latency", "error_rate", "html_error_rate"):
        return number
    if name == "throttle_rate":
        return value is None or number
    if name == "retry_after":
        return isinstance(value, bool)
    # drop_after_create, seed
    integer = isinstance(value, int) and not isinstance(value, bool)
    return integer or (name == "seed" and value is None)


@dataclass(frozen=True, slots=True)
class Throttle:
    """The outcome of taking a token: whether the call may go on, and the headers to send."""

    allowed: bool
    headers: dict[str, str]


class FaultInjector:
    """The live state behind a Faults setting (RNG, token bucket, remaining drops).

    The bucket refills by `clock`, so that a test can step time itself instead of hoping a
    loaded machine answers its calls fast enough."""

    def __init__(self, faults: Faults, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.configure(faults)

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Refill by `clock` from now on; the bucket keeps the tokens it holds."""
        with self._lock:
            self._clock = clock
            self._refilled_at = clock()

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)
            self._drops_left = faults.drop_after_create
            self._tokens = _capacity(faults.throttle_rate or 0.0)
            self._refilled_at = self._clock()

    @property
    def faults(self) -> Faults:
        """The current setting, with drop_after_create showing the drops still to come."""
        with self._lock:
            return _replace_drops(self._faults, self._drops_left)

    @property
    def latency(self) -> float:
        return self._faults.latency

    def pick_error(self) -> int | None:
        """500 (error_rate), 502 with HTML (html_error_rate) or None, from one seeded draw."""
        with self._lock:
            faults = self._faults
            if faults.error_rate == 0 and faults.html_error_rate == 0:
                return None
            draw = self._rng.random()
            if draw < faults.error_rate:
                return 500
            if draw < faults.error_rate + faults.html_error_rate:
                return 502
            return None

    def take_drop(self) -> bool:
        with self._lock:
            if self._drops_left <= 0:
                return False
            self._drops_left -= 1
            return True

    def throttle(self) -> Throttle:
        """Take one token. Without a throttle_rate every call is allowed and no header is sent
        (assumption: Keap always sends its headers, but invented numbers for a limit that is not
        enforced would only mislead a client that paces itself on them)."""
        with self._lock:
            rate = self._faults.throttle_rate
            if rate is None:
                return Throttle(True, {})
            now = self._clock()
            self._tokens = min(_capacity(rate), self._tokens + (now - self._refilled_at) * rate)
            self._refilled_at = now
            allowed = self._tokens >= 1.0
            if allowed:
                self._tokens -= 1.0
            headers = _throttle_headers(rate, self._tokens)
            if not allowed and self._faults.retry_after:
                # Retry-After is whole seconds (RFC 9110), so round the wait for a token up.
                wait = (1.0 - self._tokens) / rate
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return Throttle(allowed, headers)


def _capacity(rate: float) -> float:
    # One second's worth of calls, but at least one call, so that a rate below 1/s still
    # lets a call through now and then.
    return max(1.0, rate)


def _replace_drops(faults: Faults, drops_left: int) -> Faults:
    data = asdict(faults)
    data["drop_after_create"] = drops_left
    return Faults(**data)


def _throttle_headers(rate: float, tokens: float) -> dict[str, str]:
    # One bucket stands for both Keap's product (per app) and tenant (per account) throttles:
    # the sandbox serves one app on one account.
    limit = max(1, math.floor(rate))
    available = max(0, math.floor(tokens))
    used = max(0, limit - available)
    headers: dict[str, str] = {}
    for scope in ("product", "tenant"):
        prefix = f"x-keap-{scope}-throttle"
        headers[f"{prefix}-limit"] = str(limit)
        headers[f"{prefix}-time-unit"] = "second"
        headers[f"{prefix}-interval"] = "1"
        headers[f"{prefix}-available"] = str(available)
        headers[f"{prefix}-used"] = str(used)
    return headers
