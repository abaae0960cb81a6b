"""The transport: sends one JSON request to a REST API and gets its answer back, or a typed
KeapError saying why not.

It owns everything between an operation and the wire, and knows nothing of hooks: the HTTP
session (CA bundle, proxies, connection pool, no redirects), the credential (a `KeapAuth`,
refreshed once on a 401 if it can), retries within a `RetryPolicy`, pacing on Keap's throttle
headers, bounded reads of the body, and the mapping of answers and network failures to the
exceptions of hookctl.errors. A request that must not be repeated blindly (a create) passes a
`recover` callback, asked after an ambiguous failure whether the request had taken effect.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from hookctl import __version__
from hookctl.auth import KeapAuth
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
from hookctl.urls import is_loopback

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# 10,000 hooks are about 1.5 MB of JSON; anything past this bound is not a hooks answer.
MAX_BODY_BYTES = 32 * 1024 * 1024
# Keap documents the unit as "minute" and "day"; accept any case, singular or plural.
_TIME_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_CA_HINT = "set REQUESTS_CA_BUNDLE to a CA bundle that trusts this host"
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


class Pacer:
    """Spaces requests out when Keap's throttle headers say the budget is nearly spent.

    Keap answers every call with how many calls are left in the current window. While plenty
    are left we do not wait at all; once fewer than `reserve` are left we space request starts
    at the refill rate, shared by every thread, so that a large apply does not hit 429s.
    """

    def __init__(self, reserve: int = 8) -> None:
        self.reserve = reserve
        self._lock = threading.Lock()
        self._next_at = 0.0
        self._spacing = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + self._spacing
        if start > now:
            time.sleep(start - now)

    def observe(self, headers: Mapping[str, str]) -> None:
        spacing = 0.0
        for prefix in ("x-keap-product-throttle", "x-keap-tenant-throttle"):
            available = _header_number(headers, f"{prefix}-available")
            limit = _header_number(headers, f"{prefix}-limit")
            if available is None or not limit:
                continue
            interval = _header_number(headers, f"{prefix}-interval") or 1.0
            unit_name = str(headers.get(f"{prefix}-time-unit", "")).lower().removesuffix("s")
            unit = _TIME_UNITS.get(unit_name, 60.0)
            per_call = interval * unit / limit
            if available <= max(self.reserve, limit * 0.1):
                spacing = max(spacing, per_call)
        with self._lock:
            self._spacing = spacing

    def hold(self, seconds: float, per_call: float | None = None) -> None:
        """After a 429: nobody starts a request for `seconds`."""
        with self._lock:
            self._next_at = max(self._next_at, time.monotonic() + seconds)
            if per_call:
                self._spacing = max(self._spacing, per_call)


class _Ambiguous(Exception):
    """The request may have reached the API, but we do not know whether it took effect."""

    def __init__(self, error: KeapError) -> None:
        super().__init__(str(error))
        self.error = error


class Transport:
    """JSON requests to one API base url, authenticated by `auth`, retried within `retry`.

    `missing_hint` is what to tell the user when `auth` is None; every request then fails
    before anything is sent. `environ` (os.environ by default) supplies REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE; proxies always come from os.environ, as requests reads them.
    """

    def __init__(
        self,
        api_url: str,
        auth: KeapAuth | None,
        *,
        missing_hint: str = "no credentials",
        environ: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy | None = None,
        pool_size: int = 8,
        pacer: Pacer | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HookctlError(f"the Keap API url {self.api_url!r} is not an http(s) url")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            logger.warning(
                "%s is plain http: credentials would cross the network unencrypted", parts.hostname
            )
        self.auth = auth
        self.missing_hint = missing_hint
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.pacer = pacer or Pacer()
        self._session = requests.Session()
        # Proxies and REQUESTS_CA_BUNDLE still come from the environment; credentials must
        # not, or ~/.netrc could add an Authorization header we never chose to send.
        self._session.trust_env = False
        self._session.proxies = requests.utils.get_environ_proxies(self.api_url)
        self._session.verify = _ca_bundle(os.environ if environ is None else environ)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1))
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
        deadline = time.monotonic() + self.retry.total_seconds
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
                if recover is not None and isinstance(exc, _Ambiguous):
                    found = recover()
                    if found is not None:
                        return found
                if not _retryable(error):
                    raise error from None
                wait = error.retry_after
                if wait is None:
                    wait = self.retry.backoff(attempt - 1)
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
                time.sleep(wait)
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
        self.pacer.wait()
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
        self.pacer.observe(response.headers)
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
        except ValueError:
            got = self._clean(f"expected JSON, got {_describe_body(response, raw)}", secrets)
            raise ProtocolError(method, path, status, got) from None

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
        message = self._clean(_error_message(response, raw), secrets)
        if 300 <= status < 400:
            # Never followed: the credential would go wherever the answer points.
            target = urlsplit(response.headers.get("Location", "")).hostname or "elsewhere"
            return ProtocolError(
                method, path, status, f"unexpected redirect to {target}, not followed"
            )
        if status in (401, 403):
            hint = self.auth.hint if self.auth else self.missing_hint
            return AuthenticationError(method, path, status, message, hint)
        if status == 404:
            return NotFoundError(method, path, status, message)
        if status == 429:
            retry_after = _retry_after(response.headers)
            self.pacer.hold(retry_after or 0.0)
            return ThrottledError(
                method, path, status, message or "throttled", retry_after=retry_after
            )
        if status >= 500:
            error = ServerError(method, path, status, message)
            return error if idempotent else _Ambiguous(error)
        return InvalidRequestError(method, path, status, message)

    def _clean(self, text: str, secrets: tuple[str, ...]) -> str:
        if self.auth is not None:
            text = self.auth.redact(text)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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


def _ca_bundle(environ: Mapping[str, str]) -> str | bool:
    # Verification is never off: the only choice is which CA bundle to trust.
    return environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or True


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
    except ValueError:
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
