"""The transport: sends one JSON request to a REST API and gets its answer back, or a typed
KeapError saying why not.

It owns everything between an operation and the wire, and knows nothing of hooks: the HTTP
session (CA bundle, proxies, connection pool, no redirects), the credential (a `KeapAuth`,
refreshed once on a 401 if it can), retries within a `RetryPolicy`, the waits Keap asks for
(Retry-After and throttle headers, through hookctl.keap.waits), none longer than `max_wait`, bounded
reads of the body, and the mapping of answers and network failures to the exceptions of
hookctl.errors. A request that must not be repeated blindly (a create) passes a `recover`
callback, asked after an ambiguous failure whether the request had taken effect. No text it
raises holds the credential, even as Keap echoed it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from hookctl.domain.urls import UrlProblem, is_loopback, parse_url, public_url
from hookctl.errors import (
    AuthenticationError,
    CertificateError,
    HookctlError,
    InvalidRequestError,
    KeapError,
    NotFoundError,
    ProtocolError,
    ServerError,
    ThrottledError,
    UnreachableError,
)
from hookctl.keap.auth import KeapAuth, redact
from hookctl.keap.waits import (
    DEFAULT_MAX_WAIT,
    AppBudget,
    Pacer,
    RateLimit,
    WaitTooLong,
    pause,
    retry_after,
    too_long,
)
from hookctl.version import __version__

__all__ = [
    "MAX_BODY_BYTES",
    "Connections",
    "Pacer",
    "RetryPolicy",
    "Transport",
    "TransportSettings",
]

logger = logging.getLogger(__name__)

API_PATH = "/crm/rest/v1"

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# 10,000 hooks are about 1.5 MB of JSON; anything past this bound is not a hooks answer.
MAX_BODY_BYTES = 32 * 1024 * 1024
_CA_HINT = "set REQUESTS_CA_BUNDLE to a CA bundle that trusts this host"
_WAIT_HINT = "run again then, or allow a longer wait with --max-wait SECONDS"
# Failures before any byte of a request left this machine. NameResolutionError exists from
# urllib3 2.0 on (a NewConnectionError there); 1.26, which requests>=2.31 allows, raises
# NewConnectionError itself for a name that does not resolve.
_NEVER_CONNECTED: tuple[type[BaseException], ...] = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    getattr(urllib3.exceptions, "NameResolutionError", urllib3.exceptions.NewConnectionError),
)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying: at most `attempts` tries within `total_seconds`."""

    attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    total_seconds: float = 120.0

    def backoff(self, retry_number: int) -> float:
        # "Full jitter" keeps concurrent workers from retrying in lockstep.
        ceiling = min(self.backoff_max, self.backoff_base * (2**retry_number))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class TransportSettings:
    """How a transport sends: the bounds on each request, on its retries and its waits, its
    connections and its pace."""

    # Seconds to connect, and to wait for each read of the answer.
    timeout: tuple[float, float] = (5.0, 30.0)
    # None: RetryPolicy() as the code that builds the transport finds it.
    retry: RetryPolicy | None = None
    # Connections kept open, at most: one per request sent at once.
    pool_size: int = 8
    # The longest wait Keap may ask for, in seconds; a longer one fails the request at once.
    max_wait: float = DEFAULT_MAX_WAIT
    # Writes started a second, at most; None: as fast as Keap's throttle headers allow.
    max_rate: float | None = None


class _Ambiguous(Exception):
    """The request may have reached the API, but we do not know whether it took effect."""

    def __init__(self, error: KeapError) -> None:
        super().__init__(str(error))
        self.error = error


def environ_proxies(api_url: str) -> dict[str, str]:
    """The proxies requests would take from the environment for `api_url` (HTTPS_PROXY,
    NO_PROXY, ...), worked out once per url and set of proxy variables. requests reads the
    whole environment three times for each answer; with a fleet's credentials variables in it
    (a thousand accounts, a thousand variables) that cost more CPU than the account's call."""
    return dict(_proxies(api_url, _proxy_variables()))


def _proxy_variables() -> tuple[tuple[str, str], ...]:
    """The variables urllib reads for proxies (any case of *_proxy, and REQUEST_METHOD, which
    makes it ignore HTTP_PROXY), as they are now: the cache's key."""
    if os.supports_bytes_environ:
        # Bytes keys need no decoding: a scan of a large environment stays cheap.
        names = [
            key for key in os.environb if key[-6:].lower() == b"_proxy" or key == b"REQUEST_METHOD"
        ]
        return tuple(
            sorted(
                (key.decode(errors="replace"), os.environb[key].decode(errors="replace"))
                for key in names
            )
        )
    return tuple(
        sorted(
            (key, value)
            for key, value in os.environ.items()
            if key[-6:].lower() == "_proxy" or key == "REQUEST_METHOD"
        )
    )


@lru_cache(maxsize=64)
def _proxies(api_url: str, variables: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    # `variables` is the key only: requests reads the same values from os.environ.
    return tuple(sorted(requests.utils.get_environ_proxies(api_url).items()))


class Connections:
    """Keep-alive connections shared by the clients of many accounts (a drift of a fleet):
    each account's client would otherwise open, and close, a connection of its own to the
    same API host, a TLS handshake per account. A connection carries no account: each request
    brings its own credential. Up to `pool_size` are kept per host; close() ends them."""

    def __init__(self, pool_size: int) -> None:
        self.adapter = HTTPAdapter(pool_connections=8, pool_maxsize=max(pool_size, 1))
        # The proxy variables as the run started: scanning an environment of a thousand
        # credentials variables for each of a thousand clients was a third of their CPU.
        self._proxy_variables = _proxy_variables()

    def proxies(self, api_url: str) -> dict[str, str]:
        """The proxies for `api_url` (environ_proxies), from the variables as the run started."""
        return dict(_proxies(api_url, self._proxy_variables))

    def close(self) -> None:
        self.adapter.close()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """JSON requests to one API base url, authenticated by `auth`, sent as `settings` say.

    `missing_hint` is what to tell the user when `auth` is None; every request then fails
    before anything is sent. `environ` (os.environ by default) supplies REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE; proxies always come from os.environ, as requests reads them. A wait Keap
    asks for (Retry-After, throttle headers) longer than `settings.max_wait` seconds fails the
    request at once instead. `pacer` is shared state, not a setting: a caller may pass one to
    watch it.
    """

    def __init__(
        self,
        api_url: str,
        auth: KeapAuth | None,
        settings: TransportSettings | None = None,
        *,
        missing_hint: str = "no credentials",
        environ: Mapping[str, str] | None = None,
        pacer: Pacer | None = None,
        app: AppBudget | None = None,
        connections: Connections | None = None,
    ) -> None:
        settings = settings or TransportSettings()
        parts = _api_url_parts(api_url)
        if parts.username is not None or parts.password is not None:
            # requests sends our credential instead, so the userinfo never goes anywhere;
            # dropping it keeps the password out of every hint, log line and file.
            logger.warning("the API url's user:password is ignored (never sent, never shown)")
            api_url = public_url(api_url)
        self.api_url = api_url.rstrip("/")
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            logger.warning(
                "%s is plain http: credentials would cross the network unencrypted", parts.hostname
            )
        self.auth = auth
        self.missing_hint = missing_hint
        self.timeout = settings.timeout
        self.retry = settings.retry or RetryPolicy()
        self.pacer = pacer or Pacer()
        # The budget shared with every other client of the same OAuth app, if any.
        self.app = app
        self.max_wait = settings.max_wait
        self._writes = RateLimit(settings.max_rate)
        self._session = requests.Session()
        # Proxies and REQUESTS_CA_BUNDLE still come from the environment; credentials must
        # not, or ~/.netrc could add an Authorization header we never chose to send.
        self._session.trust_env = False
        self._session.proxies = (
            connections.proxies(self.api_url)
            if connections is not None
            else environ_proxies(self.api_url)
        )
        self._session.verify = _ca_bundle(
            os.environ if environ is None else environ, parts.scheme == "https"
        )
        # Shared connections are the run's to close, not this client's.
        self._shared = connections is not None
        adapter = (
            connections.adapter
            if connections is not None
            else HTTPAdapter(pool_connections=1, pool_maxsize=max(settings.pool_size, 1))
        )
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update(
            {"User-Agent": f"hookctl/{__version__}", "Accept": "application/json"}
        )
        self._calls_lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:
        return f"Transport(api_url={self.api_url!r}, auth={self.auth!r})"

    def close(self) -> None:
        if self._shared:
            self._session.adapters.clear()
        self._session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: int = 200,
        recover: Callable[[], Any] | None = None,
        gone_ok: bool = False,
        secrets: tuple[str, ...] = (),
    ) -> Any:
        """One operation, with retries. Returns the decoded JSON body (None for 204).

        `recover` marks a request that must not be sent twice: after a failure that leaves it
        unknown whether the API acted on it, `recover()` is asked for the body the request
        would have answered, and None means "it did not land", so it is sent again. `gone_ok`:
        a 404 on a retry means our first try did it. `secrets` are blanked out of messages.
        """
        auth = self.auth
        if auth is None:
            raise AuthenticationError(method, path, None, "no credentials", self.missing_hint)
        problem = auth.problem()
        if problem:
            raise AuthenticationError(method, path, None, problem, auth.hint)
        # A wait the user allows with --max-wait is not cut short by the retry budget.
        deadline = time.monotonic() + max(self.retry.total_seconds, self.max_wait)
        attempt = 1
        refreshed = False
        while True:
            try:
                return self._once(method, path, body, headers, expect, recover is None, secrets)
            except NotFoundError:
                if gone_ok and attempt > 1:
                    logger.info("%s %s: already gone after a retry, counted as done", method, path)
                    return None
                raise
            except AuthenticationError as refused:
                if refused.status != 401 or refreshed or not auth.refresh():
                    raise
                # Not counted as an attempt: a 401 is refused before anything is done, so
                # even a create may go again.
                refreshed = True
                logger.info("%s %s: HTTP 401, credentials renewed; sending once more", method, path)
            except (_Ambiguous, KeapError) as exc:
                error = exc.error if isinstance(exc, _Ambiguous) else exc
                asked = error.retry_after
                if asked is not None and asked > self.max_wait:
                    # Not even a look for a create that may have landed: Keap said to wait.
                    raise _waited_too_long(error, asked, self.max_wait) from None
                held = self.pacer.held_beyond(self.max_wait) if asked is None else None
                if held is not None and error.status == 429:
                    # No Retry-After, but the answer's headers said how long (a spent quota).
                    raise _waited_too_long(error, held.seconds, self.max_wait, held.why) from None
                if recover is not None and isinstance(exc, _Ambiguous):
                    found = recover()
                    if found is not None:
                        return found
                if not _retryable(error):
                    raise error from None
                wait = self.retry.backoff(attempt - 1) if asked is None else asked
                if attempt >= self.retry.attempts or time.monotonic() + wait > deadline:
                    raise error from None
                if error.status is None or isinstance(error, UnreachableError):
                    why = error.keap_message
                else:
                    why = f"HTTP {error.status}"
                logger.warning(
                    "%s %s failed (%s); retry %d/%d in %.1fs",
                    *(method, path, why, attempt, self.retry.attempts - 1, wait),
                )
                if asked is None:
                    pause(wait)
                # else the pacer holds the next attempt (and every other request) back.
                attempt += 1

    def _once(
        self,
        method: str,
        path: str,
        body: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        expect: int,
        idempotent: bool,
        secrets: tuple[str, ...],
    ) -> Any:
        try:
            sent_at = self.pacer.wait(self.max_wait)
            if self.app is not None:
                self.app.wait(self.max_wait)
        except WaitTooLong as held:
            asked = f"not sent: {too_long(held.seconds, self.max_wait, held.why)}"
            raise ThrottledError(method, path, None, asked, _WAIT_HINT) from None
        if method != "GET":
            self._writes.wait()
        with self._calls_lock:
            self.calls += 1
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self.api_url + path,
                json=body,
                headers=dict(headers or {}),
                auth=self.auth,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.ConnectTimeout:
            # Nothing was sent, so even a create may simply go again.
            raise UnreachableError(
                method, path, None, "connect timed out", self._net_hint()
            ) from None
        except requests.exceptions.SSLError as exc:
            if not _certificate_rejected(exc):
                # A handshake cut short is a network fault like any other, worth a retry.
                raise UnreachableError(
                    method, path, None, "TLS handshake failed", self._net_hint()
                ) from None
            # A certificate that does not verify will not verify on a retry either.
            failed, hint = "TLS certificate verification failed", _CA_HINT
            raise CertificateError(method, path, None, failed, hint) from None
        except requests.exceptions.ReadTimeout:
            error = UnreachableError(method, path, None, "no answer in time", self._net_hint())
            raise error if idempotent else _Ambiguous(error) from None
        except requests.exceptions.ConnectionError as exc:
            sent = not _never_connected(exc)
            message = "connection lost" if sent else "cannot connect"
            error = UnreachableError(method, path, None, message, self._net_hint())
            raise _Ambiguous(error) if sent and not idempotent else error from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            # Refused before sending (a url requests or urllib3 cannot use, a CA bundle gone):
            # the text of such an error may quote a header, the credential with it.
            failed = f"the request could not be sent ({type(exc).__name__})"
            raise KeapError(method, path, None, failed) from None
        try:
            raw = _read_limited(response, started + self.timeout[1] * 2)
        except requests.exceptions.RequestException:
            error = UnreachableError(method, path, None, "connection lost while reading", "")
            raise error if idempotent else _Ambiguous(error) from None
        except UnreachableError as slow:
            # An answer that trickled in came after the API did the work: a create must be
            # looked for before it is sent again.
            raise slow if idempotent else _Ambiguous(slow) from None
        finally:
            response.close()
        self.pacer.observe(response.headers, sent_at)
        if self.app is not None:
            self.app.observe(response.headers)
        status = response.status_code
        logger.debug(
            "%s %s -> %d (%.0f ms)", method, path, status, (time.monotonic() - started) * 1000
        )
        if status != expect:
            raise self._error(method, path, response, raw, idempotent, secrets)
        if status == 204:
            return None
        try:
            return json.loads(raw)
        except RecursionError:
            raise ProtocolError(method, path, status, "JSON nested too deeply") from None
        except ValueError:
            got = self.clean(f"expected JSON, got {_describe_body(response, raw)}", secrets)
            raise ProtocolError(method, path, status, got) from None

    def _base_hint(self) -> str:
        # Keap's hooks live under /crm/rest/v1: a 404 from an API url without it is the url.
        if API_PATH in urlsplit(self.api_url).path:
            return ""
        return (
            f"the API url {public_url(self.api_url)} lacks {API_PATH}: set KEAP_API_URL or "
            f"--api-url to the base, e.g. https://api.infusionsoft.com{API_PATH}"
        )

    def _net_hint(self) -> str:
        return f"is {self.api_url} reachable? set KEAP_API_URL or --api-url"

    def _error(
        self,
        method: str,
        path: str,
        response: requests.Response,
        raw: bytes,
        idempotent: bool,
        secrets: tuple[str, ...],
    ) -> Exception:
        status = response.status_code
        message = self.clean(_error_message(response, raw), secrets)
        if 300 <= status < 400:
            # Never followed: the credential would go wherever the answer points.
            try:
                target = urlsplit(response.headers.get("Location", "")).hostname or "elsewhere"
            except ValueError:
                target = "elsewhere"
            return ProtocolError(
                method, path, status, f"unexpected redirect to {target}, not followed"
            )
        if status in (401, 403):
            hint = self.auth.hint if self.auth else self.missing_hint
            return AuthenticationError(method, path, status, message, hint)
        if status == 404:
            return NotFoundError(method, path, status, message, self._base_hint())
        # Keap's wait holds every request of this client back, not only this one's retry.
        wait = retry_after(response.headers) if status in (429, 503) else None
        if wait is not None:
            self.pacer.hold(wait, f"Retry-After of an earlier HTTP {status}")
        if status == 429:
            return ThrottledError(method, path, status, message or "throttled", retry_after=wait)
        if status >= 500:
            error = ServerError(method, path, status, message, retry_after=wait)
            return error if idempotent else _Ambiguous(error)
        return InvalidRequestError(method, path, status, message)

    def clean(self, text: str, secrets: tuple[str, ...] = ()) -> str:
        """`text` with every echo of the credential and of `secrets` blanked out."""
        if self.auth is not None:
            text = self.auth.redact(text)
        return redact(text, secrets)


def _api_url_parts(api_url: str) -> SplitResult:
    """The parts of the API url, or a HookctlError that does not show its password."""
    parts = parse_url(api_url, userinfo=True)
    if isinstance(parts, UrlProblem):
        raise HookctlError(f"the Keap API url {public_url(api_url)!r} is not an http(s) url")
    return parts


def _waited_too_long(
    error: KeapError, wait: float, max_wait: float, why: str = "Retry-After"
) -> KeapError:
    """`error` saying how long Keap asked to wait (`why`: how), and until when."""
    asked = f"{error.keap_message}; {too_long(wait, max_wait, why)}"
    return type(error)(error.method, error.path, error.status, asked, _WAIT_HINT, wait)


def _retryable(error: KeapError) -> bool:
    # A plain 500 is the API refusing the call itself: asking again gets the same answer.
    if isinstance(error, CertificateError):
        return False
    return isinstance(error, UnreachableError) or error.status in RETRY_STATUSES


def _certificate_rejected(exc: BaseException) -> bool:
    """Whether an SSLError from requests comes from a certificate that did not verify.
    requests and urllib3 wrap the ssl module's error in their own, as an argument or a
    reason rather than always as a cause, so every path down is followed."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        if isinstance(item, BaseException):
            pending += [*item.args, item.__cause__, item.__context__, getattr(item, "reason", None)]
    return False


def _ca_bundle(environ: Mapping[str, str], https: bool) -> str | bool:
    # Verification is never off: the only choice is which CA bundle to trust.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = environ.get(name)
        if path:
            if https and not os.path.exists(path):
                # requests would raise OSError on the first request, as a traceback.
                raise HookctlError(
                    f"${name} is {path!r}, which does not exist: "
                    "set it to a CA bundle file (or directory), or unset it"
                )
            return path
    return True


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the failure happened before any byte of the request left this machine."""
    reason: object = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, _NEVER_CONNECTED)


def _read_limited(response: requests.Response, deadline: float) -> bytes:
    """Read the body, refusing a huge one and one that trickles in past the deadline."""
    chunks: list[bytes] = []
    size = 0
    for chunk in _chunks(response):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ProtocolError(
                response.request.method or "",
                urlsplit(response.url).path,
                response.status_code,
                f"answer larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB",
            )
        if time.monotonic() > deadline:
            raise UnreachableError(
                response.request.method or "",
                urlsplit(response.url).path,
                response.status_code,
                "answer trickled in too slowly",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives. iter_content() waits for a full chunk (or the end of the body)
    before it returns, so a server sending a byte now and then, each within the read timeout,
    would keep a deadline from ever being checked; read1() returns what one read from the
    socket gives. urllib3 1.x has no read1(), and is left with iter_content()."""
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:
        yield from response.iter_content(65536)
        return
    while True:
        try:
            chunk = read1(65536, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # As iter_content() would say it, for the caller's one except clause.
            raise requests.exceptions.ConnectionError(type(exc).__name__) from None
        if not chunk:
            return
        yield chunk


def _error_message(response: requests.Response, raw: bytes) -> str:
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return _describe_body(response, raw)
    if isinstance(body, dict):
        fault = body.get("fault")
        if isinstance(fault, dict) and isinstance(fault.get("faultstring"), str):
            return str(fault["faultstring"])[:300]
        for field in ("message", "status", "error"):
            if isinstance(body.get(field), str) and body[field]:
                return str(body[field])[:300]
    return response.reason or ""


def _describe_body(response: requests.Response, raw: bytes) -> str:
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    return f"a {kind} body of {len(raw)} bytes" if raw else "an empty body"
