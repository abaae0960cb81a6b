"""The sandbox's OAuth2: Keap's token endpoint (`POST /token`) and the access tokens it accepts.

As Keap's: the authorization_code and refresh_token grants, client id and secret as HTTP Basic
or in the form, access tokens that live 24 hours (on the sandbox's compressed clock:
`time_scale` times that), and a NEW refresh token on every refresh, the old one refused from
then on with `{"error": "invalid_grant"}`. Authorization codes come from the admin call
`POST /_sandbox/oauth/code` (the sandbox has no login page) and are good once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

__all__ = ["ACCESS_TOKEN_SECONDS", "TokenAnswer", "Tokens"]

ACCESS_TOKEN_SECONDS = 86400


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """What /token answers: a status and its JSON body."""

    status: int
    body: dict[str, object]


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Tokens:
    """The OAuth client the sandbox knows, and every token it has issued."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        time_scale: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        # Access tokens expire by this clock; a test sets its own to let a day pass at once.
        self.clock = clock
        self._client_secret = client_secret
        self._lifetime = ACCESS_TOKEN_SECONDS * time_scale
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}  # token -> monotonic expiry
        self._refresh: set[str] = set()
        self._codes: set[str] = set()
        self.refreshes = 0

    def new_code(self) -> str:
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes.add(code)
        return code

    def new_refresh_token(self) -> str:
        """A refresh token as if issued to an app earlier (for tests and demos)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh.add(token)
        return token

    def expire_all(self) -> None:
        """Every access token issued so far expires now (as a day's wait would do)."""
        with self._lock:
            self._access.clear()

    def accepts(self, token: str) -> bool:
        with self._lock:
            expiry = self._access.get(token)
        return expiry is not None and self.clock() < expiry

    def answer(self, authorization: str | None, body: bytes) -> TokenAnswer:
        """The answer of POST /token to this form body."""
        try:
            form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        except UnicodeDecodeError:
            return _error(400, "invalid_request", "the body is not a form")
        client_id, client_secret = _basic(authorization) or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        if not (_same(client_id, self.client_id) and _same(client_secret, self._client_secret)):
            return _error(401, "invalid_client", "unknown client or wrong secret")
        grant = form.get("grant_type", "")
        with self._lock:
            if grant == "authorization_code":
                spent = self._take(self._codes, form.get("code", ""))
            elif grant == "refresh_token":
                spent = self._take(self._refresh, form.get("refresh_token", ""))
            else:
                return _error(400, "unsupported_grant_type", f"grant_type {grant!r}")
            if not spent:
                return _error(400, "invalid_grant", "Invalid refresh token or code")
            if grant == "refresh_token":
                self.refreshes += 1
            access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            self._access[access] = self.clock() + self._lifetime
            self._refresh.add(refresh)
        return TokenAnswer(
            200,
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "bearer",
                # The real lifetime, for clients that renew ahead of expiry.
                "expires_in": max(1, math.ceil(self._lifetime)),
                "scope": "full|sandbox.infusionsoft.com",
            },
        )

    @staticmethod
    def _take(tokens: set[str], token: str) -> bool:
        for known in tokens:
            if _same(token, known):
                tokens.discard(known)
                return True
        return False


def _basic(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _error(status: int, error: str, description: str) -> TokenAnswer:
    return TokenAnswer(status, {"error": error, "error_description": description})
