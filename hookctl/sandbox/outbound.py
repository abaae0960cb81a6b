"""The sandbox's own HTTP calls to hookUrls: the verification handshake and event deliveries."""

from __future__ import annotations

import http.client
import json
import logging
import os
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hookctl.domain.urls import is_loopback

logger = logging.getLogger(__name__)

# Set by the test suite: hookUrls on other hosts then fail at once instead of reaching out
# (tests use made-up urls such as https://hooks.example.com/... by the hundred).
LOOPBACK_ONLY_ENV = "HOOKCTL_SANDBOX_LOOPBACK_ONLY"

_MAX_ANSWER_BYTES = 64 * 1024


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

    def post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
        """POST and return (status, X-Hook-Secret answered), or (0, None) for no answer.

        http.client rather than urllib so that no proxy setting can reroute a loopback receiver.
        """
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            return 0, None
        if parts.scheme not in ("http", "https") or not host:
            return 0, None
        if self.refusal(url):
            logger.debug("not calling %s: loopback only", host)
            return 0, None
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        # An explicit port: http.client would read the last group of a bare IPv6 host as one.
        port = port or (443 if parts.scheme == "https" else 80)
        connection = connection_class(host, port, timeout=self.timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            connection.request("POST", target, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read(_MAX_ANSWER_BYTES)
            return answer.status, answer.getheader("X-Hook-Secret")
        except (OSError, http.client.HTTPException, ValueError) as error:
            # DNS failure, refused, timeout, TLS, garbage: all mean "no answer".
            logger.debug("no answer from %s: %s", host, type(error).__name__)
            return 0, None
        finally:
            connection.close()

    def handshake(self, url: str) -> tuple[bool, str]:
        """Intent verification: a fresh secret, verified only on 200 with the same secret echoed."""
        secret = secrets.token_hex(32)
        status, echoed = self.post(url, {"X-Hook-Secret": secret, "Content-Length": "0"}, b"")
        verified = status == 200 and echoed == secret
        return verified, secret

    def deliver(self, url: str, payload: dict[str, Any]) -> int:
        """One delivery attempt; the status answered, 0 for none."""
        body = json.dumps(payload).encode()
        status, _ = self.post(url, {"Content-Type": "application/json"}, body)
        return status
