"""Waiting as Keap asks, within bounds: its throttle headers and Retry-After read without
trusting them, a Pacer that spaces requests out, and pauses that Ctrl-C ends at once.

Keap can ask for any wait at all (a spent daily quota says a day; a broken gateway may say
`inf` or the year 9999). A wait longer than the run's `max_wait` is never started: the caller
gets WaitTooLong, saying how long and until when, and turns it into a one-line error.
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hookctl.system.interrupts import check_interrupted

__all__ = [
    "APP_CALLS_PER_MINUTE",
    "DEFAULT_ACCOUNT_PARALLELISM",
    "DEFAULT_MAX_RATE",
    "DEFAULT_MAX_WAIT",
    "AppBudget",
    "Pacer",
    "Quota",
    "RateLimit",
    "WaitTooLong",
    "app_budget",
    "pause",
    "read_quota",
    "retry_after",
    "too_long",
]

# Longer than this, a wait Keap asks for ends the command instead (--max-wait).
DEFAULT_MAX_WAIT = 60.0
# Writes a second when nobody says otherwise (--max-rate): a Keap engineer reported Service
# Account Keys spike-limited at 5 calls a second.
DEFAULT_MAX_RATE = 5.0
# Accounts worked on at once (--account-parallelism), from bench/bench_fleet.py (a drift of
# 1,000 accounts behind 150 ms of latency; bench/RESULTS.md): 42 s at 4, 21 s at 8, 12 s at
# 16, 7 s at 32, 4 s at 64. 32 takes most of the gain; more helps a drift a little further,
# but an apply multiplies it by --parallelism (32 x 4 writes at once already). Accounts of
# one OAuth app share its budget whatever this is.
DEFAULT_ACCOUNT_PARALLELISM = 32
# An OAuth app's calls a minute, counted by Keap across every tenant the app serves
# (/work/shared/keap/KEAP.md, "Rate limits"), until an answer's x-keap-product-throttle-*
# headers say what the limit is now.
APP_CALLS_PER_MINUTE = 1500
# Below this share of the daily quota, plan says how much is left.
QUOTA_LOW = 0.1
_QUOTA = "x-keap-product-quota"
# Keap documents the unit as "minute" and "day"; accept any case, singular or plural.
_TIME_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
# How often a pause looks whether the run was interrupted.
_SLICE = 0.1
_CENTURY = 100 * 365.25 * 86400


class WaitTooLong(Exception):
    """Keap asks for a wait of `seconds` (possibly inf), longer than the run allows."""

    def __init__(self, seconds: float, why: str) -> None:
        super().__init__(f"{why}: wait of {seconds} s")
        self.seconds = seconds
        self.why = why


def too_long(seconds: float, max_wait: float, why: str) -> str:
    """What to tell the user about a wait of `seconds` Keap asked for (`why` says how),
    beyond `max_wait`."""
    about = "; ".join(part for part in (_until(seconds), why) if part)
    return (
        f"Keap asks to wait {_duration(seconds)} ({about}), longer than the "
        f"{_duration(max_wait)} --max-wait allows"
    )


def pause(seconds: float) -> None:
    """Sleep `seconds`, in slices, raising Interrupted as soon as the run is interrupted (a
    sleeping worker thread would otherwise keep Ctrl-C waiting until it wakes)."""
    end = time.monotonic() + seconds
    while True:
        check_interrupted()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, _SLICE))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date); None when absent or unusable
    (not a number or date, NaN, negative). May be inf: the caller bounds it."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return _until_date(raw)
    return None if math.isnan(seconds) or seconds < 0 else seconds


def _until_date(raw: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, as far as anyone can tell
        when = when.replace(tzinfo=timezone.utc)
    # A date gone by means "now".
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


@dataclass(frozen=True, slots=True)
class Quota:
    """Keap's daily quota as its last answer reported it (x-keap-product-quota-*)."""

    limit: int
    available: int
    resets_at: datetime

    @property
    def low(self) -> bool:
        return self.available < self.limit * QUOTA_LOW

    @property
    def seconds_to_reset(self) -> float:
        return max(0.0, (self.resets_at - datetime.now(timezone.utc)).total_seconds())

    def describe(self) -> str:
        return (
            f"{self.available:,} of {self.limit:,} calls left in Keap's daily quota, "
            f"until {self.resets_at:%Y-%m-%d %H:%M} UTC"
        )


def read_quota(headers: Mapping[str, str]) -> Quota | None:
    """The daily quota an answer's headers report, read case-insensitively (Keap's header
    names became lower-case in 2022); None when they report none that makes sense."""
    lowered = {str(name).lower(): value for name, value in headers.items()}
    limit = _header_number(lowered, f"{_QUOTA}-limit")
    available = _header_number(lowered, f"{_QUOTA}-available")
    if limit is None or available is None or not 0 < limit < math.inf:
        return None
    available = min(max(available, 0.0), limit)
    resets_at = _expiry(lowered.get(f"{_QUOTA}-expiry-time")) or _next_midnight()
    return Quota(int(limit), int(available), resets_at)


def _expiry(raw: str | None) -> datetime | None:
    """An expiry time as Keap may send it: epoch milliseconds or seconds, or a date."""
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        seconds = _until_date(raw)
        return None if seconds is None else datetime.now(timezone.utc) + timedelta(0, seconds)
    if not 0 < number < 1e15:
        return None
    try:
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def _next_midnight() -> datetime:
    # Keap's daily quotas reset at 00:00 UTC.
    now = datetime.now(timezone.utc)
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)


class RateLimit:
    """At most `rate` request starts a second (None: no limit), shared by every thread."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._lock = threading.Lock()
        self._next_at = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + self.interval
        if start > now:
            pause(start - now)


class Pacer:
    """Spaces requests out when Keap's throttle headers say the budget is nearly spent, and
    holds every request back while Keap has said to wait.

    Keap answers every call with how many calls are left in the current window. While plenty
    are left we do not wait at all; once fewer than `reserve` are left we space request starts
    at the refill rate, shared by every thread, so that a large apply does not hit 429s. With
    none left, or after a Retry-After, nobody starts a request until Keap said it may go.

    No request waits longer than the `max_wait` given to wait(): a hold Keap asked for that
    ends later raises WaitTooLong at once, and the spacing, our own choice, is cut short, so
    that requests queued behind each other never add up to more.

    Answers to requests sent side by side come back in any order. An answer saying plenty is
    left is taken as news only for a request sent after the pacer last learnt the budget was
    low: an older one describes the budget before the calls that spent it, and taking it
    would lift the spacing just when it is needed (seen as a burst of 429s in an apply of 500
    creates at 8 writes at once).
    """

    def __init__(self, reserve: int = 8, clock: Callable[[], float] = time.monotonic) -> None:
        self.reserve = reserve
        # Holds and spacing are kept on this clock; a test steps its own.
        self._clock = clock
        self._lock = threading.Lock()
        self._next_at = 0.0  # monotonic: when the next request may start, as spaced
        self._spacing = 0.0
        self._held_until = 0.0  # monotonic: no request before this, as Keap asked
        self._why = ""
        self._low_since = -math.inf  # monotonic: when an answer last said the budget is low
        self.quota: Quota | None = None  # as Keap's last answer reported it

    def wait(self, max_wait: float = math.inf) -> float:
        """Wait until a request may start; returns when that is, on the pacer's clock (what
        observe() takes as `sent_at`)."""
        with self._lock:
            now = self._clock()
            held = self._held_until - now
            if held > max_wait:
                raise WaitTooLong(held, self._why)
            start = min(max(now, self._held_until, self._next_at), now + max_wait)
            self._next_at = start + min(self._spacing, max_wait)
        if start > now:
            pause(start - now)
        return start

    def held_beyond(self, max_wait: float) -> WaitTooLong | None:
        """The hold in force, if it lasts longer than `max_wait`."""
        with self._lock:
            held = self._held_until - self._clock()
            return WaitTooLong(held, self._why) if held > max_wait else None

    def observe(self, headers: Mapping[str, str], sent_at: float | None = None) -> None:
        """What an answer's headers say of the budget; `sent_at`, when its request started
        (wait()'s answer; None: after every other answer seen)."""
        headers = {str(name).lower(): value for name, value in headers.items()}
        quota = read_quota(headers)
        if quota is not None:
            self.quota = quota
            if quota.available < 1:
                # Spent for the day: waiting means until the quota resets, not a throttle's
                # second or minute.
                why = f"Keap's daily quota is spent: 0 of {quota.limit:,} calls left"
                self.hold(quota.seconds_to_reset or 1.0, why)
        spacing, blocked, why = 0.0, 0.0, ""
        for prefix in ("x-keap-product-throttle", "x-keap-tenant-throttle"):
            available = _header_number(headers, f"{prefix}-available")
            limit = _header_number(headers, f"{prefix}-limit")
            if available is None or limit is None or not limit > 0:
                continue
            interval = _header_number(headers, f"{prefix}-interval")
            if interval is None or not interval > 0:
                interval = 1.0
            unit_name = str(headers.get(f"{prefix}-time-unit", "")).lower().removesuffix("s")
            if unit_name not in _TIME_UNITS:
                unit_name = "minute"
            per_call = interval * _TIME_UNITS[unit_name] / limit
            if not per_call > 0:  # NaN, from inf / inf
                continue
            if available < 1:
                # Nothing left: the next call may go once one call's worth has come back.
                if per_call > blocked:
                    blocked = per_call
                    why = f"{prefix}: 0 calls left of {limit:g} per {interval:g} {unit_name}"
            elif available <= max(self.reserve, limit * 0.1):
                spacing = max(spacing, per_call)
        with self._lock:
            if spacing or blocked:
                self._spacing = spacing
                self._low_since = self._clock()
            elif sent_at is None or sent_at >= self._low_since:
                self._spacing = 0.0
        if blocked:
            self.hold(blocked, why)

    def hold(self, seconds: float, why: str = "Retry-After of an earlier answer") -> None:
        """Nobody starts a request for `seconds` (inf: never), because of `why`."""
        if not seconds > 0:
            return
        with self._lock:
            until = self._clock() + seconds
            if until > self._held_until:
                self._held_until, self._why = until, why


class AppBudget:
    """The calls one OAuth app (one client id) may start, shared by the clients of every
    account that uses it. Keap counts an app's calls across all the tenants it serves, so
    accounts worked on side by side must share one budget: each account's own Pacer only sees
    its own answers' headers, too late to keep 32 accounts from spending the app's minute
    together.

    A sliding window: at most `limit` starts in any `window` seconds, each request reserving
    the first free slot, so none waits longer than the queue ahead of it. A slot further
    off than the caller's `max_wait` raises WaitTooLong and reserves nothing.

    `share`: this process is one of that many that use the app at once (the jobs of a CI
    matrix, --app-share), and takes that part of the limit. The processes cannot see each
    other's calls, so dividing the limit is what keeps them within it together.
    """

    def __init__(
        self, limit: int = APP_CALLS_PER_MINUTE, window: float = 60.0, share: int = 1
    ) -> None:
        self.limit = limit
        self.window = window
        self.share = share
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()  # reserved start times, in order

    def wait(self, max_wait: float = math.inf) -> None:
        with self._lock:
            now = time.monotonic()
            while self._starts and self._starts[0] <= now - self.window:
                self._starts.popleft()
            start = now
            limit = self.allowed
            if len(self._starts) >= limit:
                start = self._starts[-limit] + self.window
            if self._starts:
                start = max(start, self._starts[-1])  # keeps the reservations in order
            if start - now > max_wait:
                calls = f"{limit:g} calls per {_duration(self.window)}"
                of = f" (1/{self.share} of {self.limit:g}, --app-share)" if self.share > 1 else ""
                raise WaitTooLong(start - now, f"the OAuth app's {calls}{of} are spent")
            self._starts.append(start)
        if start > now:
            pause(start - now)

    @property
    def allowed(self) -> int:
        """The calls this process may start in a window: its share of the app's limit."""
        return max(1, self.limit // self.share)

    def observe(self, headers: Mapping[str, str]) -> None:
        """The app's limit as an answer's product-throttle headers give it (Keap's product
        throttle is the app's), when they give a usable one."""
        lowered = {str(name).lower(): value for name, value in headers.items()}
        prefix = "x-keap-product-throttle"
        limit = _header_number(lowered, f"{prefix}-limit")
        if limit is None or not 1 <= limit < 10**9:
            return
        interval = _header_number(lowered, f"{prefix}-interval")
        unit = str(lowered.get(f"{prefix}-time-unit", "")).lower().removesuffix("s")
        window = (interval if interval and interval > 0 else 1.0) * _TIME_UNITS.get(unit, 60.0)
        if not 0 < window <= _TIME_UNITS["hour"]:
            return
        with self._lock:
            self.limit, self.window = int(limit), window


_APPS: dict[str, AppBudget] = {}
_APPS_LOCK = threading.Lock()


def app_budget(client_id: str, share: int = 1) -> AppBudget:
    """The one budget of the OAuth app `client_id` in this process, whichever account asks;
    `share`: the part of the app's limit this process takes (AppBudget), as last asked."""
    # Keyed by a digest: the id itself is not kept around.
    key = hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()
    with _APPS_LOCK:
        budget = _APPS.get(key)
        if budget is None:
            budget = _APPS[key] = AppBudget()
        budget.share = share
        return budget


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    try:
        number = float(raw) if raw is not None else None
    except ValueError:
        return None
    return None if number is None or math.isnan(number) else number


def _duration(seconds: float) -> str:
    if not seconds < _CENTURY:
        return "more than 100 years"
    if seconds < 120:
        return f"{round(seconds, 1):g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:,.0f} days"


def _until(seconds: float) -> str:
    try:
        when = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # past the year 9999, or inf
        return ""
    return f"until {when:%Y-%m-%d %H:%M:%S} UTC"
