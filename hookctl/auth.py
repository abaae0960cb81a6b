"""Credentials: which secret proves who we are to Keap, how it goes on a request, and how it
is kept out of every text we show.

Each credential is a `requests.auth.AuthBase`: the transport hands it to requests, which calls
it on every request it prepares. Two kinds exist, chosen from the environment by
`credentials_from_env` (a variable hooks.yaml names, else $KEAP_API_KEY, else
$KEAP_ACCESS_TOKEN):

- `ApiKeyAuth`: a personal access token or service account key, sent as X-Keap-API-Key;
- `BearerAuth`: an OAuth2 access token, sent as `Authorization: Bearer ...`.

Every credential redacts its own value from a text (`redact`) and never shows it in its repr,
so errors and logs can be built from Keap's answers without leaking it.

Adding an OAuth credential that refreshes its token: subclass `KeapAuth` (or `BearerAuth`) and
override `refresh()`. When Keap answers 401, the transport calls `refresh()` once for that
operation; if it returns True (a new token is in place), the same request is sent once more,
through `__call__` again, so the new token goes out. A second 401 is final, and a 403 never
refreshes (the token is fine, the permission is missing). `refresh()` may be called from
several threads at once (the applier runs changes in parallel): lock, and renew only if the
token is still the one that was refused. `redact()` must then hide the old tokens as well as
the current one, since a text may quote either. Whatever `refresh()` raises ends the operation
and is not retried: raise a KeapError (an AuthenticationError when the refresh token is
refused), so that the user sees one line and no traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import requests

__all__ = [
    "DEFAULT_ACCESS_TOKEN_ENV",
    "DEFAULT_API_KEY_ENV",
    "ApiKeyAuth",
    "BearerAuth",
    "KeapAuth",
    "credentials_from_env",
    "missing_hint",
]

DEFAULT_API_KEY_ENV = "KEAP_API_KEY"
DEFAULT_ACCESS_TOKEN_ENV = "KEAP_ACCESS_TOKEN"
# What requests refuses in a header value (and would quote, secret and all, in its error).
_UNSENDABLE = re.compile(r"^\s|[\r\n]")


class KeapAuth(requests.auth.AuthBase):
    """A secret from the environment variable `env_name`, sent in the header `header`."""

    header = ""

    def __init__(self, value: str, env_name: str) -> None:
        self._value = value
        self.env_name = env_name

    def header_value(self) -> str:
        return self._value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self.header_value()
        return request

    def problem(self) -> str | None:
        """Why this credential cannot be sent at all, checked before any request."""
        if _UNSENDABLE.search(self.header_value()):
            return f"${self.env_name} starts with a space or holds a line break"
        return None

    def refresh(self) -> bool:
        """After a 401: renew the secret and return True to have the request sent once more.
        A fixed key or token has nothing to renew."""
        return False

    def redact(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    @property
    def hint(self) -> str:
        """What to tell the user when Keap refuses this credential."""
        return f"check ${self.env_name}"

    def __repr__(self) -> str:
        return f"<credentials from ${self.env_name}>"


class ApiKeyAuth(KeapAuth):
    """A personal access token or service account key."""

    header = "X-Keap-API-Key"


class BearerAuth(KeapAuth):
    """An OAuth2 access token."""

    header = "Authorization"

    def header_value(self) -> str:
        return f"Bearer {self._value}"


def credentials_from_env(
    env: Mapping[str, str],
    api_key_env: str | None = None,
    access_token_env: str | None = None,
) -> KeapAuth | None:
    """Pick the credential named by hooks.yaml, else KEAP_API_KEY, else KEAP_ACCESS_TOKEN."""
    if api_key_env or access_token_env:
        candidates: list[tuple[str | None, type[KeapAuth]]] = [
            (api_key_env, ApiKeyAuth),
            (access_token_env, BearerAuth),
        ]
    else:
        candidates = [(DEFAULT_API_KEY_ENV, ApiKeyAuth), (DEFAULT_ACCESS_TOKEN_ENV, BearerAuth)]
    for name, kind in candidates:
        if name and env.get(name):
            return kind(env[name], name)
    return None


def missing_hint(api_key_env: str | None = None, access_token_env: str | None = None) -> str:
    """What to tell the user when `credentials_from_env` found nothing."""
    if api_key_env or access_token_env:
        return f"set ${api_key_env or access_token_env}"
    return f"set ${DEFAULT_API_KEY_ENV} or ${DEFAULT_ACCESS_TOKEN_ENV}"
