"""The delivery log: every delivery attempt the sandbox made, newest last, bounded.

Served at GET /_sandbox/deliveries for `hookctl deliveries`; a record's id orders the log, so a
follower asks for the records after the last id it saw.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

# Enough for a day of a developer's triggers; the oldest are dropped first.
DEFAULT_CAPACITY = 1000
# A record keeps its body, up to 1,000 object keys (~130 bytes each): the log also drops its
# oldest records while it holds more keys than this, so that it stays within tens of MB.
MAX_KEYS_HELD = 100_000
# Bounds what one GET returns, whatever `limit` asks for.
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt as the log keeps it."""

    id: int
    time: str
    hook_key: str
    event_key: str
    url: str
    body: dict[str, Any]
    attempt: int
    status: int
    answer: str
    duration_ms: int
    hook_status: str | None
    # Seconds of Keap's clock this attempt waited for (after the change, or the failed attempt
    # before it); the sandbox waited that times its time_scale.
    delay_s: float = 0.0
    resend_of: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "hook_key": self.hook_key,
            "event_key": self.event_key,
            "url": self.url,
            "body": self.body,
            "attempt": self.attempt,
            "status": self.status,
            "answer": self.answer,
            "duration_ms": self.duration_ms,
            "hook_status": self.hook_status,
            "delay_s": self.delay_s,
            "resend_of": self.resend_of,
        }


class DeliveryLog:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._lock = threading.Condition()
        self._capacity = capacity
        self._records: deque[Attempt] = deque()
        self._keys_held = 0
        self._next_id = 1
        # Long polls, and those a new record ended: for tests that a follower is woken by a new
        # attempt rather than by polling again.
        self.polls = 0
        self.woken = 0

    def add(self, **fields: Any) -> Attempt:
        with self._lock:
            record = Attempt(id=self._next_id, **fields)
            self._next_id += 1
            self._records.append(record)
            self._keys_held += _keys(record)
            while len(self._records) > self._capacity or (
                self._keys_held > MAX_KEYS_HELD and len(self._records) > 1
            ):
                self._keys_held -= _keys(self._records.popleft())
            self._lock.notify_all()
            return record

    def get(self, record_id: int) -> Attempt | None:
        with self._lock:
            return next((r for r in self._records if r.id == record_id), None)

    def after(self, last_id: int, limit: int = MAX_PAGE, wait: float = 0.0) -> list[Attempt]:
        """The records with an id above last_id, oldest first, at most `limit` of them; waits
        up to `wait` seconds for one to come when there is none (a long poll, so that a
        follower sees a delivery as soon as it is made without polling fast)."""
        limit = max(1, min(limit, MAX_PAGE))
        with self._lock:
            if wait > 0 and self._newest() <= last_id:
                self.polls += 1
                self.woken += self._lock.wait_for(lambda: self._newest() > last_id, timeout=wait)
            return [r for r in self._records if r.id > last_id][:limit]

    def newest(self) -> int:
        """The id of the last record made (0 before any)."""
        with self._lock:
            return self._newest()

    def _newest(self) -> int:
        return self._records[-1].id if self._records else 0


def _keys(record: Attempt) -> int:
    keys = record.body.get("object_keys")
    return len(keys) if isinstance(keys, list) else 0
