"""Credentials: which secret proves who we are to Keap, how it goes on a request, and how it
is kept out of every text we show.

Each credential is a `requests.auth.AuthBase`: the transport hands it to requests, which calls
it on every request it prepares. Two kinds exist, chosen from the environment by
`hookctl.keap.credentials` (a variable hooks.yaml names, else $KEAP_API_KEY, else
$KEAP_ACCESS_TOKEN):

- `ApiKeyAuth`: a personal access token or service account key, sent as X-Keap-API-Key;
- `BearerAuth`: an OAuth2 access token, sent as `Authorization: Bearer ...`;
- `hookctl.keap.oauth.OAuthAuth`: an OAuth app's tokens, renewed through Keap's token endpoint
  (after KEAP_API_KEY and KEAP_ACCESS_TOKEN, when KEAP_CLIENT_ID and the rest are set).

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

import logging
import re
from collections.abc import Iterable

import requests

from hookctl.errors import HookctlError

__all__ = [
    "DEFAULT_ACCESS_TOKEN_ENV",
    "DEFAULT_API_KEY_ENV",
    "ApiKeyAuth",
    "BearerAuth",
    "KeapAuth",
    "clean_secret",
    "redact",
]

logger = logging.getLogger(__name__)

DEFAULT_API_KEY_ENV = "KEAP_API_KEY"
DEFAULT_ACCESS_TOKEN_ENV = "KEAP_ACCESS_TOKEN"
# Control characters (C0, DEL, C1): requests refuses some in a header, quoting the value in its
# error, and lets others through to reach Keap as a key nobody typed.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# An echo of a secret is hidden wherever it shows this many of the secret's characters in a
# row: an error body cut short or upper-cased still gives most of it away.
REDACT_RUN = 8


class KeapAuth(requests.auth.AuthBase):
    """A secret from the environment variable `env_name`, sent in the header `header`."""

    header = ""
    # The OAuth app (client id) the credential belongs to, whose calls Keap counts together
    # across every tenant (hookctl.keap.waits.AppBudget); None for a key or a plain token.
    app_id: str | None = None

    def __init__(self, value: str, env_name: str) -> None:
        self._value, self._problem = _checked(value, f"${env_name}")
        self.env_name = env_name

    def header_value(self) -> str:
        return self._value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self.header_value()
        return request

    def problem(self) -> str | None:
        """Why this credential cannot be sent at all, checked before any request."""
        return self._problem

    def refresh(self) -> bool:
        """After a 401: renew the secret and return True to have the request sent once more.
        A fixed key or token has nothing to renew."""
        return False

    def redact(self, text: str) -> str:
        return redact(text, (self._value,))

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


def clean_secret(value: str, name: str) -> str:
    """A secret as it is to be sent in a header: without the spaces or line break pasted
    around it (a warning naming `name`, e.g. "$VAR" or "--secret", says so), and a
    HookctlError naming `name`, never the value, when it cannot be sent at all."""
    cleaned, problem = _checked(value, name)
    if problem:
        raise HookctlError(problem)
    return cleaned


def _checked(value: str, name: str) -> tuple[str, str | None]:
    """`value` stripped, and why it cannot go in an HTTP header (None when it can)."""
    cleaned = value.strip()
    if cleaned != value:
        logger.warning("%s has spaces or a line break around it; they were left out", name)
    if not cleaned and value:
        return cleaned, f"{name} holds nothing but spaces or line breaks"
    if _CONTROL.search(cleaned):
        return cleaned, f"{name} holds a control character (a line break or tab inside it?)"
    try:
        cleaned.encode("latin-1")
    except UnicodeEncodeError:
        # http.client sends header values as Latin-1: nothing else can be sent.
        return cleaned, f"{name} holds a character that cannot be sent in an HTTP header"
    return cleaned, None


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every echo of a secret replaced by `***`: any run of REDACT_RUN or more of
    a secret's characters in a row (of a shorter secret, the whole of it), as it is,
    upper-cased or lower-cased."""
    hidden = bytearray(len(text))
    for secret in secrets:
        size = min(REDACT_RUN, len(secret))
        if not size:
            continue
        pieces = {
            variant[i : i + size]
            for variant in {secret, secret.upper(), secret.lower()}
            for i in range(len(variant) - size + 1)
        }
        for start in range(len(text) - size + 1):
            if text[start : start + size] in pieces:
                hidden[start : start + size] = b"\x01" * size
    if not any(hidden):
        return text
    shown: list[str] = []
    for index, char in enumerate(text):
        if not hidden[index]:
            shown.append(char)
        elif index == 0 or not hidden[index - 1]:
            shown.append("***")
    return "".join(shown)
