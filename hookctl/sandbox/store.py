"""The sandbox's subscriptions in SQLite: ':memory:' by default, or a file kept across restarts."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from typing import cast

from hookctl.domain.models import Hook, Status

# Assumption: Keap's keys are its database ids, so the sandbox hands out increasing integers
# rendered as strings ("1", "2", ...) and never reuses one after a delete (AUTOINCREMENT).
# Only the canonical spelling names a hook: "01" or "1.0" is an unknown key, as a string
# lookup would make it.
_KEY = re.compile(r"[1-9][0-9]{0,17}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hooks (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL,
    hook_url TEXT NOT NULL,
    status TEXT NOT NULL,
    -- the last X-Hook-Secret issued, kept for delayedVerify; never logged
    secret TEXT
)
"""


def _hook(row: tuple[int, str, str, str]) -> Hook:
    key, event_key, hook_url, status = row
    return Hook(str(key), event_key, hook_url, cast(Status, status))


def _rowid(key: str) -> int | None:
    return int(key) if _KEY.fullmatch(key) else None


class Store:
    """One connection behind one lock: the sandbox's load is small and this keeps it simple."""

    def __init__(self, db: str | os.PathLike[str] = ":memory:") -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        with self._lock:
            # A file database must survive a crash of the sandbox but need not survive a power
            # cut: WAL + NORMAL keeps creates fast enough for the benchmarks.
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def list(self) -> list[Hook]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, event_key, hook_url, status FROM hooks ORDER BY key"
            ).fetchall()
        return [_hook(row) for row in rows]

    def get(self, key: str) -> Hook | None:
        rowid = _rowid(key)
        if rowid is None:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT key, event_key, hook_url, status FROM hooks WHERE key = ?", (rowid,)
            ).fetchone()
        return None if row is None else _hook(row)

    def create(self, event_key: str, hook_url: str, status: Status) -> Hook:
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO hooks (event_key, hook_url, status) VALUES (?, ?, ?)",
                (event_key, hook_url, status),
            )
            rowid = cursor.lastrowid
        assert rowid is not None
        return Hook(str(rowid), event_key, hook_url, status)

    def update(self, key: str, event_key: str, hook_url: str) -> Hook | None:
        return self._write(
            key, "UPDATE hooks SET event_key = ?, hook_url = ? WHERE key = ?", (event_key, hook_url)
        )

    def set_status(self, key: str, status: Status) -> Hook | None:
        return self._write(key, "UPDATE hooks SET status = ? WHERE key = ?", (status,))

    def set_secret(self, key: str, secret: str | None) -> None:
        self._write(key, "UPDATE hooks SET secret = ? WHERE key = ?", (secret,))

    def secret(self, key: str) -> str | None:
        rowid = _rowid(key)
        if rowid is None:
            return None
        with self._lock:
            row = self._conn.execute("SELECT secret FROM hooks WHERE key = ?", (rowid,)).fetchone()
        return None if row is None else cast("str | None", row[0])

    def delete(self, key: str) -> bool:
        rowid = _rowid(key)
        if rowid is None:
            return False
        with self._lock:
            return self._conn.execute("DELETE FROM hooks WHERE key = ?", (rowid,)).rowcount > 0

    def _write(self, key: str, sql: str, values: tuple[str | None, ...]) -> Hook | None:
        rowid = _rowid(key)
        if rowid is None:
            return None
        with self._lock:
            if self._conn.execute(sql, (*values, rowid)).rowcount == 0:
                return None
            row = self._conn.execute(
                "SELECT key, event_key, hook_url, status FROM hooks WHERE key = ?", (rowid,)
            ).fetchone()
        return _hook(row)
