"""The Keap REST hooks client: one method per operation of Keap's hooks resource.

`Keap` sends exactly what `hooks-openapi.yaml` declares and checks that every answer has the
shape the spec gives it, turning anything else into a ProtocolError. The HTTP itself (retries,
pacing, bounded reads, error mapping) is keap.transport's; credentials are keap.auth's.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar
from urllib.parse import quote

from hookctl.domain.models import DEFAULT_API_URL, Hook, OAuthEnv, key_order, parse_status
from hookctl.errors import AuthenticationError, InvalidRequestError, ProtocolError
from hookctl.keap.auth import (
    DEFAULT_ACCESS_TOKEN_ENV,
    DEFAULT_API_KEY_ENV,
    KeapAuth,
    clean_secret,
)
from hookctl.keap.credentials import credentials_from_env, missing_hint
from hookctl.keap.transport import Connections, Pacer, RetryPolicy, Transport, TransportSettings
from hookctl.keap.waits import Quota, app_budget

if TYPE_CHECKING:
    # For the checker only: typing.Unpack is Python 3.11's and hookctl runs on 3.10, so it is
    # never imported at run time (the annotations are strings).
    from typing_extensions import Unpack

# The names other modules and tests have always imported from here.
__all__ = [
    "DEFAULT_ACCESS_TOKEN_ENV",
    "DEFAULT_API_KEY_ENV",
    "ClientOptions",
    "ClientSettings",
    "Keap",
    "Pacer",
    "RetryPolicy",
    "credentials_from_env",
    "resolve_api_url",
]

logger = logging.getLogger(__name__)
_K = TypeVar("_K", bound="Keap")
# What a hook key may look like before it goes into a path. Keap's keys are integer strings;
# letters, "-", "_" and inner dots are allowed in case that changes, but never "/", "%", a
# leading dot ("." and ".." would address /hooks or the API root) or anything outside ASCII.
_PLAUSIBLE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def resolve_api_url(
    flag: str | None = None,
    account_url: str | None = None,
    env: Mapping[str, str] | None = None,
    default: str = DEFAULT_API_URL,
) -> str:
    """The API url a client calls, the first set of, in this order:

    1. `flag`, the command line's `--api-url` (or what a library caller passes to `Keap`);
    2. `$KEAP_API_URL` in `env` (os.environ by default);
    3. `account_url`, the `api_url` of the hooks.yaml account;
    4. `default`: Keap's production API (the sandbox's, for the commands that only talk to
       a sandbox).

    An empty value counts as unset. The one place this order is decided: the CLI, the runner
    and the clients all ask here."""
    environ = os.environ if env is None else env
    return flag or environ.get("KEAP_API_URL") or account_url or default


@dataclass(frozen=True)
class ClientSettings(TransportSettings):
    """How a client works: the environment variables its credential is read from (None: the
    defaults, keap.credentials) and, inherited, how its transport sends."""

    api_key_env: str | None = None
    access_token_env: str | None = None
    oauth: OAuthEnv | None = None
    # The processes using one OAuth app at once (--app-share): this one takes 1/app_share of
    # the app's per-minute limit (keap.waits.AppBudget).
    app_share: int = 1


class ClientOptions(TypedDict, total=False):
    """ClientSettings' fields as keywords of `Keap(...)`, each replacing the setting's value."""

    api_key_env: str | None
    access_token_env: str | None
    oauth: OAuthEnv | None
    app_share: int
    timeout: tuple[float, float]
    retry: RetryPolicy | None
    pool_size: int
    max_wait: float
    max_rate: float | None


class Keap:
    """A client for one Keap account's REST hooks.

    >>> keap = Keap()                       # KEAP_API_URL / KEAP_API_KEY from the environment
    >>> hook = keap.create("contact.add", "https://hooks.example.com/keap")
    >>> keap.verify(hook.key).status
    'Verified'
    """

    def __init__(
        self,
        api_url: str | None = None,
        *,
        settings: ClientSettings | None = None,
        env: Mapping[str, str] | None = None,
        auth: KeapAuth | None = None,
        pacer: Pacer | None = None,
        connections: Connections | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        """`api_url` as resolve_api_url finds it; `settings`, with any of its fields given as
        keywords instead (`Keap(url, max_wait=60)`), say how the client works. `env`
        (os.environ by default) holds the url and the credentials; `auth` is a credential to
        use instead of one picked from it. A wait Keap asks for that is longer than
        `max_wait` seconds fails the call instead. Writes start at most `max_rate` a second
        (None: as fast as Keap's throttle headers allow). `pacer` and `connections` are shared
        state, not settings: `connections` are keep-alive connections shared with other
        clients (the caller closes them) instead of a pool of its own."""
        environ = os.environ if env is None else env
        settings = replace(settings or ClientSettings(), **options)
        names = (settings.api_key_env, settings.access_token_env, settings.oauth)
        credential = auth or credentials_from_env(environ, *names)
        app = credential.app_id if credential is not None else None
        self.transport = Transport(
            resolve_api_url(api_url, env=environ),
            credential,
            # Looked up in this module when called, so a test can swap the default policy.
            replace(settings, retry=settings.retry or RetryPolicy()),
            missing_hint=missing_hint(*names),
            environ=environ,
            pacer=pacer,
            # Accounts of one OAuth app share its budget (Keap counts it across tenants).
            app=app_budget(app, settings.app_share) if app else None,
            connections=connections,
        )

    @property
    def api_url(self) -> str:
        return self.transport.api_url

    @property
    def auth(self) -> KeapAuth | None:
        return self.transport.auth

    @property
    def timeout(self) -> tuple[float, float]:
        return self.transport.timeout

    @property
    def retry(self) -> RetryPolicy:
        return self.transport.retry

    @property
    def pacer(self) -> Pacer:
        return self.transport.pacer

    @property
    def quota(self) -> Quota | None:
        """Keap's daily quota as its last answer reported it (None: not reported)."""
        return self.transport.pacer.quota

    @property
    def calls(self) -> int:
        """Requests sent so far, retries included."""
        return self.transport.calls

    def __repr__(self) -> str:
        return f"Keap(api_url={self.api_url!r}, credentials={self.auth!r})"

    def __enter__(self: _K) -> _K:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    # -- the operations -------------------------------------------------------------------

    def event_types(self) -> list[str]:
        """GET /hooks/event_keys: the event keys this account can subscribe to."""
        body = self.transport.request("GET", "/hooks/event_keys")
        if not isinstance(body, list) or not all(isinstance(item, str) for item in body):
            raise self._shape_error("GET", "/hooks/event_keys", "an array of strings", body)
        return body

    def list(self) -> list[Hook]:
        """GET /hooks: every subscription of the account (Keap does not page this list)."""
        body = self.transport.request("GET", "/hooks")
        if not isinstance(body, list):
            raise self._shape_error("GET", "/hooks", "an array of RestHook", body)
        return [self._hook("GET", "/hooks", item) for item in body]

    def get(self, key: str) -> Hook:
        """GET /hooks/{key}."""
        path = _key_path("GET", key)
        return self._hook("GET", path, self.transport.request("GET", path))

    def create(self, event_key: str, hook_url: str) -> Hook:
        """POST /hooks. Keap runs the verification handshake before it answers.

        Never makes a duplicate: after an answer that leaves it unknown whether Keap stored the
        subscription (timeout, dropped connection, 5xx), the hooks are listed and a
        subscription with the same eventKey and hookUrl is taken as ours before trying again.
        Any such match counts, because the planner only creates pairs that did not exist.
        """
        body = {"eventKey": event_key, "hookUrl": hook_url}

        def recover() -> dict[str, str] | None:
            found = [hook for hook in self.list() if hook.pair == (event_key, hook_url)]
            if not found:
                return None
            logger.info("create of %s %s had landed before the failure", event_key, hook_url)
            return min(found, key=lambda h: key_order(h.key)).to_keap()

        return self._hook(
            "POST", "/hooks", self.transport.request("POST", "/hooks", body=body, recover=recover)
        )

    def update(self, key: str, event_key: str, hook_url: str) -> Hook:
        """PUT /hooks/{key}: point an existing subscription at another event or url."""
        path = _key_path("PUT", key)
        body = {"eventKey": event_key, "hookUrl": hook_url}
        return self._hook("PUT", path, self.transport.request("PUT", path, body=body))

    def delete(self, key: str) -> None:
        """DELETE /hooks/{key}. A 404 after a retry means our first try did it: done."""
        self.transport.request("DELETE", _key_path("DELETE", key), expect=204, gone_ok=True)

    def verify(self, key: str) -> Hook:
        """POST /hooks/{key}/verify: run the handshake again (also reactivates Inactive)."""
        path = _key_path("POST", key, "/verify")
        return self._hook("POST", path, self.transport.request("POST", path))

    def delayed_verify(self, key: str, secret: str) -> Hook:
        """POST /hooks/{key}/delayedVerify with the X-Hook-Secret the receiver was sent."""
        path = _key_path("POST", key, "/delayedVerify")
        secret = clean_secret(secret, "the X-Hook-Secret")
        try:
            body = self.transport.request(
                "POST", path, headers={"X-Hook-Secret": secret}, secrets=(secret,)
            )
        except AuthenticationError as refused:
            if refused.status != 403:
                raise
            # The credential got through (that would be a 401): the secret is what Keap refused.
            hint = "check --secret: the X-Hook-Secret Keap sent to the hookUrl, good once"
            raise AuthenticationError(
                refused.method, refused.path, refused.status, refused.keap_message, hint
            ) from None
        return self._hook("POST", path, body, (secret,))

    # -- shapes: what an answer holds is shown with every secret blanked out --------------

    def _hook(self, method: str, path: str, body: Any, secrets: tuple[str, ...] = ()) -> Hook:
        return _hook(method, path, body, lambda text: self.transport.clean(text, secrets))

    def _shape_error(self, method: str, path: str, wanted: str, body: Any) -> ProtocolError:
        return _shape_error(method, path, wanted, body, self.transport.clean)


# -- paths and shapes ------------------------------------------------------------------------


def _key_path(method: str, key: str, below: str = "") -> str:
    """/hooks/{key}, and what is `below` it; InvalidRequestError, before anything is sent,
    for a key that could address anything else."""
    if not isinstance(key, str) or not _PLAUSIBLE_KEY.fullmatch(key):
        shown = repr(key[:40]) + ("..." if len(key) > 40 else "") if key else "an empty key"
        raise InvalidRequestError(
            method, "/hooks/{key}" + below, None, f"{shown} is not a hook key; nothing was sent"
        )
    return "/hooks/" + quote(key, safe="") + below


def _hook(method: str, path: str, body: Any, clean: Callable[[str], str]) -> Hook:
    if not isinstance(body, dict):
        raise _shape_error(method, path, "a RestHook object", body, clean)
    key, event_key, hook_url, status = (
        body.get("key"),
        body.get("eventKey"),
        body.get("hookUrl"),
        body.get("status"),
    )
    # Keap's spec says key is a string; some Keap answers carry it as a number.
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not all(isinstance(v, str) for v in (key, event_key, hook_url)) or not key:
        raise _shape_error(method, path, "key, eventKey and hookUrl strings", body, clean)
    try:
        parsed = parse_status(status)
    except ValueError:
        wrong = f"unknown hook status {str(status)[:40]!r}"
        raise ProtocolError(method, path, 200, clean(wrong)) from None
    return Hook(key=key, event_key=event_key, hook_url=hook_url, status=parsed)  # type: ignore[arg-type]


def _shape_error(
    method: str, path: str, wanted: str, body: Any, clean: Callable[[str], str]
) -> ProtocolError:
    return ProtocolError(method, path, 200, clean(f"expected {wanted}, got {_summarise(body)}"))


def _summarise(body: Any) -> str:
    try:
        text = repr(body)
    except RecursionError:
        return "a value nested too deeply to show"
    return text if len(text) <= 80 else text[:77] + "..."
