"""The Keap REST hooks client: one method per operation of Keap's hooks resource.

All HTTP that hookctl does against Keap lives here. The client sends exactly what
`hooks-openapi.yaml` declares, turns every other answer into a typed exception, retries what is
safe to retry, and paces itself on Keap's throttle headers.
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
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from hookctl import __version__
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
from hookctl.models import DEFAULT_API_URL, STATUSES, Hook, key_order
from hookctl.urls import is_loopback

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_KEY_ENV = "KEAP_API_KEY"
DEFAULT_ACCESS_TOKEN_ENV = "KEAP_ACCESS_TOKEN"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# 10,000 hooks are about 1.5 MB of JSON; anything past this bound is not a hooks answer.
MAX_BODY_BYTES = 32 * 1024 * 1024
# Keap documents the unit as "minute" and "day"; accept any case, singular or plural.
_TIME_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


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


class _Credentials:
    """The header that authenticates us, kept out of every repr and message."""

    __slots__ = ("_header", "_value", "env_name")

    def __init__(self, header: str, value: str, env_name: str) -> None:
        self._header = header
        self._value = value
        self.env_name = env_name

    def apply(self, headers: dict[str, str]) -> None:
        if self._header == "Authorization":
            headers["Authorization"] = f"Bearer {self._value}"
        else:
            headers[self._header] = self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return f"<credentials from ${self.env_name}>"


def credentials_from_env(
    env: Mapping[str, str],
    api_key_env: str | None = None,
    access_token_env: str | None = None,
) -> _Credentials | None:
    """Pick the credential named by hooks.yaml, else KEAP_API_KEY, else KEAP_ACCESS_TOKEN."""
    if api_key_env or access_token_env:
        candidates = [(api_key_env, "X-Keap-API-Key"), (access_token_env, "Authorization")]
    else:
        candidates = [
            (DEFAULT_API_KEY_ENV, "X-Keap-API-Key"),
            (DEFAULT_ACCESS_TOKEN_ENV, "Authorization"),
        ]
    for name, header in candidates:
        if name and env.get(name):
            return _Credentials(header, env[name], name)
    return None


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


class _Ambiguous(Exception):
    """The request may have reached Keap, but we do not know whether it took effect."""

    def __init__(self, error: KeapError) -> None:
        super().__init__(str(error))
        self.error = error


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
        api_key_env: str | None = None,
        access_token_env: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy | None = None,
        pool_size: int = 8,
        pacer: Pacer | None = None,
    ) -> None:
        environ = os.environ if env is None else env
        self.api_url = (api_url or environ.get("KEAP_API_URL") or DEFAULT_API_URL).rstrip("/")
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HookctlError(f"the Keap API url {self.api_url!r} is not an http(s) url")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            logger.warning(
                "%s is plain http: credentials would cross the network unencrypted", parts.hostname
            )
        self._credentials = credentials_from_env(environ, api_key_env, access_token_env)
        self._missing_hint = (
            f"set ${api_key_env or access_token_env}"
            if api_key_env or access_token_env
            else f"set ${DEFAULT_API_KEY_ENV} or ${DEFAULT_ACCESS_TOKEN_ENV}"
        )
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.pacer = pacer or Pacer()
        self._session = requests.Session()
        # Proxies and REQUESTS_CA_BUNDLE still come from the environment; credentials must
        # not, or ~/.netrc could add an Authorization header we never chose to send.
        self._session.trust_env = False
        self._session.proxies = requests.utils.get_environ_proxies(self.api_url)
        self._session.verify = _ca_bundle(environ)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1))
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update(
            {"User-Agent": f"hookctl/{__version__}", "Accept": "application/json"}
        )
        self._calls_lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:
        return f"Keap(api_url={self.api_url!r}, credentials={self._credentials!r})"

    def __enter__(self) -> Keap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # -- the operations -------------------------------------------------------------------

    def event_types(self) -> list[str]:
        """GET /hooks/event_keys: the event keys this account can subscribe to."""
        body = self._call("GET", "/hooks/event_keys")
        if not isinstance(body, list) or not all(isinstance(item, str) for item in body):
            raise self._shape_error("GET", "/hooks/event_keys", "an array of strings", body)
        return body

    def list(self) -> list[Hook]:
        """GET /hooks: every subscription of the account (Keap does not page this list)."""
        body = self._call("GET", "/hooks")
        if not isinstance(body, list):
            raise self._shape_error("GET", "/hooks", "an array of RestHook", body)
        return [self._hook("GET", "/hooks", item) for item in body]

    def get(self, key: str) -> Hook:
        """GET /hooks/{key}."""
        path = self._key_path(key)
        return self._hook("GET", path, self._call("GET", path))

    def create(self, event_key: str, hook_url: str) -> Hook:
        """POST /hooks. Keap runs the verification handshake before it answers.

        Never makes a duplicate: after an answer that leaves it unknown whether Keap stored the
        subscription (timeout, dropped connection, 5xx), the hooks are listed and a
        subscription with the same eventKey and hookUrl is taken as ours before trying again.
        Any such match counts, because the planner only creates pairs that did not exist.
        """
        body = {"eventKey": event_key, "hookUrl": hook_url}

        def recover() -> Hook | None:
            found = [hook for hook in self.list() if hook.pair == (event_key, hook_url)]
            if found:
                logger.info("create of %s %s had landed before the failure", event_key, hook_url)
            return min(found, key=lambda h: key_order(h.key)) if found else None

        return self._hook(
            "POST", "/hooks", self._call("POST", "/hooks", body=body, recover=recover)
        )

    def update(self, key: str, event_key: str, hook_url: str) -> Hook:
        """PUT /hooks/{key}: point an existing subscription at another event or url."""
        path = self._key_path(key)
        body = {"eventKey": event_key, "hookUrl": hook_url}
        return self._hook("PUT", path, self._call("PUT", path, body=body))

    def delete(self, key: str) -> None:
        """DELETE /hooks/{key}. A 404 after a retry means our first try did it: done."""
        self._call("DELETE", self._key_path(key), expect=204, gone_ok=True)

    def verify(self, key: str) -> Hook:
        """POST /hooks/{key}/verify: run the handshake again (also reactivates Inactive)."""
        path = self._key_path(key) + "/verify"
        return self._hook("POST", path, self._call("POST", path))

    def delayed_verify(self, key: str, secret: str) -> Hook:
        """POST /hooks/{key}/delayedVerify with the X-Hook-Secret the receiver was sent."""
        path = self._key_path(key) + "/delayedVerify"
        body = self._call("POST", path, headers={"X-Hook-Secret": secret}, secrets=(secret,))
        return self._hook("POST", path, body)

    # -- the machinery --------------------------------------------------------------------

    @staticmethod
    def _key_path(key: str) -> str:
        if not key:
            raise InvalidRequestError("", "/hooks/{key}", None, "a hook key cannot be empty")
        return "/hooks/" + quote(str(key), safe="")

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: int = 200,
        recover: Callable[[], Hook | None] | None = None,
        gone_ok: bool = False,
        secrets: tuple[str, ...] = (),
    ) -> Any:
        """One operation, with retries. Returns the decoded JSON body (None for 204)."""
        if self._credentials is None:
            raise AuthenticationError(method, path, None, "no credentials", self._missing_hint)
        deadline = time.monotonic() + self.retry.total_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, path, body, headers, expect, recover is None, secrets)
            except NotFoundError:
                if gone_ok and attempt > 1:
                    logger.info("%s %s: already gone after a retry, counted as done", method, path)
                    return None
                raise
            except (_Ambiguous, KeapError) as exc:
                error = exc.error if isinstance(exc, _Ambiguous) else exc
                if recover is not None and isinstance(exc, _Ambiguous):
                    found = recover()
                    if found is not None:
                        return found.to_keap()
                if not _retryable(error):
                    raise error from None
                wait = (
                    error.retry_after
                    if error.retry_after is not None
                    else (self.retry.backoff(attempt - 1))
                )
                if attempt >= self.retry.attempts or time.monotonic() + wait > deadline:
                    raise error from None
                logger.warning(
                    "%s %s failed (%s); retry %d/%d in %.1fs",
                    method,
                    path,
                    error.keap_message
                    if error.status is None or isinstance(error, UnreachableError)
                    else f"HTTP {error.status}",
                    attempt,
                    self.retry.attempts - 1,
                    wait,
                )
                time.sleep(wait)

    def _once(
        self,
        method: str,
        path: str,
        body: Mapping[str, str] | None,
        extra_headers: Mapping[str, str] | None,
        expect: int,
        idempotent: bool,
        secrets: tuple[str, ...],
    ) -> Any:
        headers: dict[str, str] = dict(extra_headers or {})
        assert self._credentials is not None
        self._credentials.apply(headers)
        self.pacer.wait()
        with self._calls_lock:
            self.calls += 1
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self.api_url + path,
                json=body,
                headers=headers,
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
            raise CertificateError(
                method,
                path,
                None,
                "TLS certificate verification failed",
                "set REQUESTS_CA_BUNDLE to a CA bundle that trusts this host",
            ) from None
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
            # An answer that trickled in came after Keap did the work: a create must be looked
            # for before it is sent again.
            raise slow if idempotent else _Ambiguous(slow) from None
        finally:
            response.close()
        self.pacer.observe(response.headers)
        status = response.status_code
        logger.debug(
            "%s %s -> %d (%.0f ms)", method, path, status, (time.monotonic() - started) * 1000
        )
        if status == expect:
            return None if status == 204 else self._decode(method, path, response, raw, secrets)
        raise self._error(method, path, response, raw, idempotent, secrets)

    def _net_hint(self) -> str:
        return f"is {self.api_url} reachable? set KEAP_API_URL or --api-url"

    def _decode(
        self,
        method: str,
        path: str,
        response: requests.Response,
        raw: bytes,
        secrets: tuple[str, ...],
    ) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise ProtocolError(
                method,
                path,
                response.status_code,
                self._clean(f"expected JSON, got {_describe_body(response, raw)}", secrets),
            ) from None

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
            # Never followed: the API key header would go wherever Keap's answer points.
            target = urlsplit(response.headers.get("Location", "")).hostname or "elsewhere"
            return ProtocolError(
                method, path, status, f"unexpected redirect to {target}, not followed"
            )
        if status in (401, 403):
            hint = (
                f"check ${self._credentials.env_name}" if self._credentials else self._missing_hint
            )
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
        if self._credentials is not None:
            text = self._credentials.redact(text)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    def _hook(self, method: str, path: str, body: Any) -> Hook:
        if not isinstance(body, dict):
            raise self._shape_error(method, path, "a RestHook object", body)
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
            raise self._shape_error(method, path, "key, eventKey and hookUrl strings", body)
        if status not in STATUSES:
            raise ProtocolError(method, path, 200, f"unknown hook status {str(status)[:40]!r}")
        return Hook(key=key, event_key=event_key, hook_url=hook_url, status=status)  # type: ignore[arg-type]

    @staticmethod
    def _shape_error(method: str, path: str, wanted: str, body: Any) -> ProtocolError:
        return ProtocolError(method, path, 200, f"expected {wanted}, got {_summarise(body)}")


def _retryable(error: KeapError) -> bool:
    # A plain 500 is Keap refusing the call itself: asking again gets the same answer.
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
    import urllib3.exceptions as u3

    reason: object = exc.args[0] if exc.args else None
    if isinstance(reason, u3.MaxRetryError):
        reason = reason.reason
    return isinstance(
        reason, (u3.NewConnectionError, u3.ConnectTimeoutError, u3.NameResolutionError)
    )


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


def _summarise(body: Any) -> str:
    text = repr(body)
    return text if len(text) <= 80 else text[:77] + "..."
