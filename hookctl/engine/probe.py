"""Probing receivers: Keap's verification handshake, done from here before apply does it.

For each url, exactly what Keap sends when a subscription is created or verified: a POST with
an empty body and a fresh random `X-Hook-Secret`. The receiver passes when it answers 200 with
the same header and value; anything else leaves the subscription Unverified. Each answer falls
in one of OUTCOMES:

    ok            200, X-Hook-Secret echoed with the value sent
    delayed       200 without X-Hook-Secret: delayed confirmation (the receiver sends the
                  secret back later through `hookctl hooks verify KEY --secret-env VAR`)
    no echo       200, but X-Hook-Secret holds another value than the one sent
    wrong status  any status other than 200 and the redirects
    redirect      a 3xx: not followed, as Keap does not follow it either
    timeout       no complete answer within the timeout
    unreachable   no HTTP answer at all: a name that does not resolve, a refused or reset
                  connection, a connection closed without an answer, or not HTTP
    TLS error     the TLS handshake failed (certificate not trusted, expired, wrong name, ...)
    refused       not attempted: the host is (or resolves to) a private, link-local,
                  unspecified, mapped or otherwise non-public address (domain.urls.
                  address_refusal), or a loopback one when loopback is not allowed, and
                  --allow-private was not given

Only `ok` passes: Keap leaves every other one Unverified (a delayed one until the secret is
sent back). The secret is sent to the url and nowhere else: http.client reads no proxy
settings, redirects are not followed, and the secret is never logged, returned or shown.

A hooks file may come from a pull request, so a probe is a request it aims: the host is
resolved once, every address checked, and the connection made to the address checked (a second
lookup could answer otherwise). Loopback is allowed only when the caller says so: the runner
allows it when the account's API url is itself loopback (the sandbox, whose receivers live
there too), never on a hooks file's say alone, so a pull request cannot reach a service on the
runner's loopback (Docker's API on 127.0.0.1:2375). The name lookup runs in a worker thread
under the probe's own timeout, since the system resolver has no bound a caller can set.

Nothing here talks to Keap, and nothing prints: the CLI shows the Probes through
hookctl.cli.output, with every url masked.
"""

from __future__ import annotations

import contextlib
import hmac
import http.client
import logging
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hookctl.domain.planner import entry_matches
from hookctl.domain.results import OUTCOMES, PROBED_ACTIONS, Declared, Probe, ProbeOutcome
from hookctl.domain.urls import UrlProblem, address_refusal, mask_url, parse_url

if TYPE_CHECKING:
    from hookctl.domain.models import DesiredState

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "LOOPBACK_HINT",
    "OUTCOMES",
    "PROBED_ACTIONS",
    "Declared",
    "Probe",
    "ProbeOutcome",
    "Resolver",
    "declared",
    "handshake",
    "probe_all",
]

logger = logging.getLogger(__name__)

# socket.getaddrinfo's shape: (host, port, family, type) -> [(family, type, proto, name, addr)].
Resolver = Callable[..., list[tuple[Any, ...]]]

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONCURRENCY = 20
HEADER = "X-Hook-Secret"
# The longest part of a redirect's Location that a probe keeps.
LOCATION_MAX = 500
DELAYED_HINT = (
    "200 without X-Hook-Secret: delayed confirmation. Apply leaves the hook Unverified; "
    "`hookctl hooks verify KEY --secret-env VAR` completes it with the secret the receiver got"
)
# Lookups running at once, hung ones included: a timed-out lookup keeps its thread until the
# system resolver gives up, so a resolver that never answers holds at most this many threads.
LOOKUPS_MAX = 64
_lookups = threading.BoundedSemaphore(LOOKUPS_MAX)
LOOPBACK_HINT = "loopback is probed when the account's API url is loopback, or with --allow-private"


def declared(
    states: Iterable[tuple[str, DesiredState]], patterns: Sequence[str] = ()
) -> list[Declared]:
    """The owned urls that the desired states (each with its account's label) declare, each
    once, in the order of the entry names, restricted to the entries `patterns` name (see
    planner.entry_matches; the runner has refused a pattern that names no entry). Only
    declared urls: live subscriptions, unmanaged or ignored, are never probed."""
    names: dict[str, set[str]] = {}
    accounts: dict[str, list[str]] = {}
    for label, desired in states:
        for sub in desired.subscriptions:
            if not desired.ownership.manages(sub.hook_url):
                continue
            if patterns and not entry_matches(sub.name, patterns):
                continue
            names.setdefault(sub.hook_url, set()).add(sub.name)
            seen = accounts.setdefault(sub.hook_url, [])
            if label not in seen:
                seen.append(label)
    found = [Declared(url, tuple(sorted(names[url])), tuple(accounts[url])) for url in names]
    return sorted(found, key=lambda each: (each.names, each.url))


def probe_all(
    urls: Iterable[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    allow_private: bool = False,
    allow_loopback: bool = False,
) -> dict[str, Probe]:
    """The handshake with every url (each once), `concurrency` at a time; by url, in the order
    given. The whole run takes about ceil(n / concurrency) timeouts at worst: the lookup and
    the exchange share each url's."""
    unique = list(dict.fromkeys(urls))
    if not unique:
        return {}

    def one(url: str) -> Probe:
        return handshake(url, timeout, allow_private, allow_loopback=allow_loopback)

    if len(unique) == 1 or concurrency <= 1:
        return {url: one(url) for url in unique}
    with ThreadPoolExecutor(min(concurrency, len(unique)), thread_name_prefix="probe") as pool:
        futures = {url: pool.submit(one, url) for url in unique}
        try:
            return {url: future.result() for url, future in futures.items()}
        except BaseException:
            # Ctrl-C: the probes not started are not started; those in flight end within the
            # timeout.
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def handshake(
    url: str,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool = False,
    *,
    allow_loopback: bool = False,
    resolve: Resolver | None = None,
) -> Probe:
    """Keap's handshake with one url: a POST with an empty body and a fresh X-Hook-Secret.
    Never raises for what the receiver does; the lookup and the exchange end within `timeout`
    together. The host's addresses are checked first (see the module's docstring)
    unless `allow_private`, which allows loopback too; `allow_loopback` allows loopback only.
    `resolve` stands in for socket.getaddrinfo (read when called, so that it can be patched)."""
    secret = secrets.token_urlsafe(32)
    started = time.monotonic()

    def probe(outcome: ProbeOutcome, detail: str = "", status: int | None = None) -> Probe:
        return Probe(url, outcome, time.monotonic() - started, status, detail)

    parts = parse_url(url, userinfo=True)
    if isinstance(parts, UrlProblem):
        if parts.kind == "not absolute":
            return probe("unreachable", "not an absolute http:// or https:// url")
        return probe("unreachable", "not a usable url")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _lookup(resolve or socket.getaddrinfo, host, port, timeout)
    except TimeoutError:
        return probe("timeout", f"the host name did not resolve within {timeout:g} s")
    except (OSError, UnicodeError) as exc:
        return probe("unreachable", _unreachable_reason(exc))
    if not addresses:
        return probe("unreachable", "the host name does not resolve")
    if not allow_private:
        for address in addresses:
            refusal = address_refusal(address, loopback=allow_loopback)
            if refusal is not None:
                hint = LOOPBACK_HINT if refusal == "a loopback address" else "--allow-private"
                return probe("refused", f"not probed: the host is {refusal} ({hint})")
    connection: http.client.HTTPConnection
    # One budget per url: the exchange gets what the lookup left of it.
    left = timeout - (time.monotonic() - started)
    if left <= 0:
        return probe("timeout", f"no answer within {timeout:g} s")
    if parts.scheme == "https":
        connection = _PinnedTLS(host, port, addresses[0], left, _tls_context())
    else:
        connection = _Pinned(host, port, addresses[0], left)
    # The socket timeout bounds each connect and read; this bounds the whole exchange, so a
    # receiver that drips its answer a byte at a time cannot hold a probe for long.
    expired = threading.Event()
    deadline = threading.Timer(left, _abort, (connection, expired))
    deadline.daemon = True
    deadline.start()
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", target, body=b"", headers={HEADER: secret})
        answer = connection.getresponse()
        status, echoed = answer.status, answer.getheader(HEADER)
        location = answer.getheader("Location") or ""
    except ssl.SSLError as exc:
        return probe("TLS error", _ssl_reason(exc))
    except TimeoutError:
        return probe("timeout", f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set():
            return probe("timeout", f"no complete answer within {timeout:g} s")
        logger.debug("no answer from %s: %s", host, type(exc).__name__)
        return probe("unreachable", _unreachable_reason(exc))
    finally:
        deadline.cancel()
        connection.close()
    if expired.is_set():
        return probe("timeout", f"no complete answer within {timeout:g} s", status)
    outcome, detail = _judge(status, echoed, secret, location)
    return probe(outcome, detail, status)


def _lookup(resolve: Resolver, host: str, port: int, timeout: float) -> list[str]:
    """The addresses `host` resolves to, or TimeoutError after `timeout` seconds. A lookup
    cannot be interrupted, so it runs in a daemon thread that is left to finish on its own,
    ended by the system resolver's own timeout; LOOKUPS_MAX of them at most, so that a
    resolver that hangs cannot pile up threads."""
    started = time.monotonic()
    gate = _lookups  # the very semaphore acquired is the one released, whatever replaces it
    if not gate.acquire(timeout=timeout):
        raise TimeoutError(host)
    found: list[list[str]] = []
    failed: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            infos = resolve(host, port, type=socket.SOCK_STREAM)
            found.append([str(info[4][0]) for info in infos])
        except BaseException as exc:  # handed to the caller's thread, which decides
            failed.append(exc)
        finally:
            done.set()
            gate.release()

    try:
        threading.Thread(target=work, name="probe-lookup", daemon=True).start()
    except BaseException:
        gate.release()
        raise
    if not done.wait(max(timeout - (time.monotonic() - started), 0)):
        raise TimeoutError(host)
    if failed:
        raise failed[0]
    return found[0]


def _judge(status: int, echoed: str | None, secret: str, location: str) -> tuple[ProbeOutcome, str]:
    """The outcome of an answer with `status`, and what to say of it."""
    if status == 200:
        if echoed is None:
            return "delayed", DELAYED_HINT
        if hmac.compare_digest(echoed.encode(), secret.encode()):
            return "ok", "200 with the secret echoed"
        return "no echo", "200, but X-Hook-Secret holds another value than the one sent"
    if 300 <= status < 400:
        # The receiver's Location may carry a token too, in a relative url as well, and may
        # be long: masked and cut here, so that the detail is safe to show anywhere.
        where = f" to {mask_url(location[:LOCATION_MAX])}" if location else ""
        return "redirect", f"answered {status}{where}: Keap does not follow redirects"
    return "wrong status", f"answered {status}: Keap needs 200 with the secret echoed"


class _Pinned(http.client.HTTPConnection):
    """A connection to the address that was checked, whatever the name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """_Pinned over TLS: the certificate is still checked against the host's name."""

    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address
        self.tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Loading the system's certificates takes milliseconds: once per run, shared by the
    # threads (an SSLContext is safe to share).
    return ssl.create_default_context()


def _abort(connection: http.client.HTTPConnection, expired: threading.Event) -> None:
    expired.set()
    sock = connection.sock
    if sock is not None:
        # Wakes the worker's blocked read; close() is left to the worker's own thread.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _ssl_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not accepted: {exc.verify_message or exc.reason}"
    return str(exc.reason or type(exc).__name__)


def _unreachable_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "connection closed without an answer"
    if isinstance(exc, http.client.HTTPException):
        return "the answer is not HTTP"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
