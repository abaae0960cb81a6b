"""The sandbox's own HTTP calls to hookUrls: the verification handshake and event deliveries."""

from __future__ import annotations

import http.client
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hookctl.domain.urls import is_loopback

logger = logging.getLogger(__name__)

# Set by the test suite: hookUrls on other hosts then fail at once instead of reaching out
# (tests use made-up urls such as https://hooks.example.com/... by the hundred).
LOOPBACK_ONLY_ENV = "HOOKCTL_SANDBOX_LOOPBACK_ONLY"

_MAX_ANSWER_BYTES = 64 * 1024
# What the delivery log keeps of an answer's body.
_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Answer:
    """A receiver's answer to one POST: status (0 for none), X-Hook-Secret, the start of its
    body, and how long it took."""

    status: int
    secret: str | None = None
    excerpt: str = ""
    seconds: float = 0.0


def loopback_only_from_env() -> bool:
    return os.environ.get(LOOPBACK_ONLY_ENV, "") not in ("", "0")


@dataclass(frozen=True, slots=True)
class Outbound:
    """How the sandbox reaches receivers: a timeout per call, and optionally loopback only."""

    timeout: float
    loopback_only: bool

    def refusal(self, url: str) -> str | None:
        """Why the sandbox will not call `url` at all (None when it will)."""
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return None
        if self.loopback_only and host and not is_loopback(host):
            return (
                f"the sandbox calls loopback hookUrls only, not {host} "
                "(start it with --allow-outbound to make the handshake with other hosts)"
            )
        return None

    def post(
        self, url: str, headers: dict[str, str], body: bytes, timeout: float | None = None
    ) -> Answer:
        """POST and return the answer (status 0 for none), within `timeout` (default: the
        handshake's).

        http.client rather than urllib so that no proxy setting can reroute a loopback receiver.
        """
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            return Answer(0)
        if parts.scheme not in ("http", "https") or not host:
            return Answer(0)
        if self.refusal(url):
            logger.debug("not calling %s: loopback only", host)
            return Answer(0)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        # An explicit port: http.client would read the last group of a bare IPv6 host as one.
        port = port or (443 if parts.scheme == "https" else 80)
        connection = connection_class(host, port, timeout=timeout or self.timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        started = time.monotonic()
        try:
            connection.request("POST", target, body=body, headers=headers)
            answer = connection.getresponse()
            text = answer.read(_MAX_ANSWER_BYTES)[:_EXCERPT_CHARS].decode("utf-8", "replace")
            seconds = time.monotonic() - started
            return Answer(answer.status, answer.getheader("X-Hook-Secret"), text, seconds)
        except (OSError, http.client.HTTPException, ValueError) as error:
            # DNS failure, refused, timeout, TLS, garbage: all mean "no answer".
            logger.debug("no answer from %s: %s", host, type(error).__name__)
            return Answer(0, excerpt=type(error).__name__, seconds=time.monotonic() - started)
        finally:
            connection.close()

    def handshake(self, url: str) -> tuple[bool, str]:
        """Intent verification: a fresh secret, verified only on 200 with the same secret echoed."""
        secret = secrets.token_hex(32)
        answer = self.post(url, {"X-Hook-Secret": secret, "Content-Length": "0"}, b"")
        verified = answer.status == 200 and answer.secret == secret
        return verified, secret

    def deliver(self, url: str, payload: dict[str, Any], timeout: float) -> Answer:
        """One delivery attempt, given up after `timeout` seconds."""
        body = json.dumps(payload).encode()
        return self.post(url, {"Content-Type": "application/json"}, body, timeout)
