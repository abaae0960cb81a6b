"""The built-in hook receiver at /_sandbox/receiver/...: answers handshakes, records deliveries.

The first path segment below the receiver picks a behaviour, so tests and demos can make it
misbehave without configuration:

    fail/...     500 to everything (handshakes never verify, deliveries always fail)
    gone/...     410 to everything (a delivery makes the subscription Inactive at once)
    delayed/...  200 without the X-Hook-Secret header: the delayed-confirmation pattern
    slow/...     answers correctly, but only after the sandbox's outbound timeout
    flaky-N/...  handshakes verify; the first N deliveries to this path answer 500
    gone-N/...   handshakes verify; the first N deliveries to this path answer 410
    anything else answers correctly.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

PREFIX = "/_sandbox/receiver"

_FLAKY = re.compile(r"(flaky|gone)-([0-9]{1,6})")


@dataclass(frozen=True, slots=True)
class Received:
    """One POST the receiver got. Handshakes are recorded without their secret."""

    path: str
    kind: Literal["handshake", "event"]
    status: int
    body: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "status": self.status, "body": self.body}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    delay: float


class Receiver:
    def __init__(self, slow_delay: float) -> None:
        self._slow_delay = slow_delay
        self._lock = threading.Lock()
        self._log: list[Received] = []
        self._secrets: dict[str, str] = {}
        self._events_by_path: dict[str, int] = {}

    def answer(self, path: str, secret: str | None, body: bytes) -> Answer:
        mode = path[len(PREFIX) :].lstrip("/").split("/", 1)[0]
        kind: Literal["handshake", "event"] = "handshake" if secret is not None else "event"
        status, headers, delay = 200, {}, 0.0
        if mode == "fail":
            status = 500
        elif mode == "gone":
            status = 410
        elif mode == "slow":
            delay = self._slow_delay
        with self._lock:
            if kind == "handshake":
                assert secret is not None
                self._secrets[path] = secret
                if status == 200 and mode != "delayed":
                    headers["X-Hook-Secret"] = secret
            else:
                seen = self._events_by_path.get(path, 0)
                self._events_by_path[path] = seen + 1
                flaky = _FLAKY.fullmatch(mode)
                if flaky and seen < int(flaky.group(2)):
                    status = 500 if flaky.group(1) == "flaky" else 410
            self._log.append(
                Received(path, kind, status, _parse(body) if kind == "event" else None)
            )
        return Answer(status, headers, delay)

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        with self._lock:
            self._log.clear()
            self._events_by_path.clear()

    def last_secret(self, url: str) -> str | None:
        """The last X-Hook-Secret a handshake brought to this url (or path)."""
        with self._lock:
            return self._secrets.get(urlsplit(url).path)


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
