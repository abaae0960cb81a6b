"""The sandbox's daily quota: Keap's `x-keap-product-quota-*` headers on every answer, and 429
"Quota Exceeded" once the day's calls are spent. The default is Keap's limit since 2026-06-08:
250,000 calls a day per application instance, whatever the token type (before, keys had 30,000
a day per tenant and OAuth apps 150,000). Clients must read the limit from the headers.

Assumption: like Keap's, the quota resets at 00:00 UTC, and `expiry-time` says when, as epoch
milliseconds (Keap's gateway, Apigee, reports quota expiry that way).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = ["DEFAULT_DAILY_QUOTA", "DailyQuota", "QuotaState"]

DEFAULT_DAILY_QUOTA = 250_000
PREFIX = "x-keap-product-quota"


@dataclass(frozen=True, slots=True)
class QuotaState:
    """Whether a call may go on, and the headers every answer carries."""

    allowed: bool
    headers: dict[str, str]


class DailyQuota:
    """`limit` calls a UTC day; None turns the quota (and its headers) off."""

    def __init__(self, limit: int | None = DEFAULT_DAILY_QUOTA) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._used = 0
        self._day = _today()

    def configure(self, limit: int | None, used: int = 0) -> None:
        if (limit is not None and limit < 0) or used < 0:
            raise ValueError("limit and used must be 0 or more")
        with self._lock:
            self._limit, self._used, self._day = limit, used, _today()

    def to_json(self) -> dict[str, int | None]:
        with self._lock:
            self._roll()
            return {"limit": self._limit, "used": self._used}

    def take(self) -> QuotaState:
        """Spend one call if any is left."""
        with self._lock:
            self._roll()
            if self._limit is None:
                return QuotaState(True, {})
            allowed = self._used < self._limit
            if allowed:
                self._used += 1
            reset = (self._day + timedelta(days=1)).replace(tzinfo=timezone.utc)
            expiry = int(reset.timestamp() * 1000)
            headers = {
                f"{PREFIX}-limit": str(self._limit),
                f"{PREFIX}-time-unit": "day",
                f"{PREFIX}-interval": "1",
                f"{PREFIX}-available": str(self._limit - self._used),
                f"{PREFIX}-used": str(self._used),
                f"{PREFIX}-expiry-time": str(expiry),
            }
            return QuotaState(allowed, headers)

    def _roll(self) -> None:
        today = _today()
        if today != self._day:
            self._day, self._used = today, 0


def _today() -> datetime:
    now = datetime.now(timezone.utc)
    return datetime(now.year, now.month, now.day)
