"""For the receiving side: answer Keap's verification handshake correctly.

When a subscription is created or verified, Keap POSTs an empty body to the hook url with a
random `X-Hook-Secret` header, and verifies the subscription only if the answer is status 200
with the same header and value. Event deliveries come without that header.

    from hookctl.receiver import HandshakeMiddleware
    app.wsgi_app = HandshakeMiddleware(app.wsgi_app)      # Flask; any WSGI app alike

or, in any framework, `handshake_headers(request.headers)`: the headers to answer with (an
empty dict when the request is not a handshake). The README has snippets for Flask, FastAPI
and Django.

Keap signs nothing, so a token in the hook url (`?token=...`) is a receiver's only secret. To
rotate it without losing a delivery, a receiver accepts the old and the new token for a while
(`token_accepted(query, {old, new})`, or `TokenMiddleware(app, {old, new})` outside the
handshake middleware), hookctl apply moves the subscriptions to the new one, and then the
receiver drops the old (README: "Rotating a url token without downtime").

Standard library only, so that a receiver can import it without installing hookctl's
dependencies (copying this file is fine too). It never logs or stores the secret.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "HEADER",
    "HandshakeMiddleware",
    "TokenMiddleware",
    "handshake_headers",
    "is_handshake",
    "token_accepted",
]

HEADER = "X-Hook-Secret"
# What an echoed value may hold: visible ASCII, bounded. Anything else (a newline above all)
# would let the request write the answer's headers; Keap's secrets are short and plain.
_VALUE = re.compile(r"[\x21-\x7e]{1,1024}")
# A query string longer than this is refused unread: Keap's hook urls are at most 2048 long.
_QUERY_MAX = 4096


def handshake_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers to answer a handshake with, given the request's headers (a mapping or
    (name, value) pairs, names in any case): `{"X-Hook-Secret": <the value received>}`, to be
    sent with status 200. An empty dict when the request is not a handshake."""
    secret = _secret(headers)
    return {HEADER: secret} if secret is not None else {}


def is_handshake(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bool:
    """Whether a request with these headers is Keap's handshake rather than an event."""
    return _secret(headers) is not None


def _secret(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> str | None:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if name.lower() == "x-hook-secret":
            value = value.strip()
            return value if _VALUE.fullmatch(value) else None
    return None


class HandshakeMiddleware:
    """WSGI middleware: answers Keap's handshake (a POST carrying X-Hook-Secret) with 200, the
    secret echoed and an empty body, and hands every other request to `app`.

    `paths`, when given, limits it to requests whose path is one of them (the hook urls this
    app receives on); by default every path answers."""

    def __init__(self, app: WSGIApplication, paths: Iterable[str] | None = None) -> None:
        self.app = app
        self.paths = frozenset(paths) if paths is not None else None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and (
            self.paths is None or environ.get("PATH_INFO", "") in self.paths
        ):
            answer = handshake_headers(_wsgi_headers(environ))
            if answer:
                start_response("200 OK", [*answer.items(), ("Content-Length", "0")])
                return [b""]
        return self.app(environ, start_response)


def _wsgi_headers(environ: WSGIEnvironment) -> Iterator[tuple[str, str]]:
    # WSGI spells request headers as HTTP_X_HOOK_SECRET; only this one matters here.
    value = environ.get("HTTP_X_HOOK_SECRET")
    if isinstance(value, str):
        yield HEADER, value


def token_accepted(query: str, tokens: Iterable[str], parameter: str = "token") -> bool:
    """Whether the url query string `query` carries `parameter` once, equal to one of `tokens`
    (an empty token never matches). During a rotation, give the old and the new token.
    Compared in constant time, so that the answer's timing tells nothing about a token."""
    if len(query) > _QUERY_MAX:
        return False
    values = parse_qs(query, keep_blank_values=True, max_num_fields=64).get(parameter, [])
    if len(values) != 1:
        return False
    given = values[0].encode("utf-8", "surrogateescape")
    accepted = False
    for token in tokens:
        # Every token is compared, the match or not, for the same reason.
        if token and hmac.compare_digest(given, token.encode("utf-8", "surrogateescape")):
            accepted = True
    return accepted


class TokenMiddleware:
    """WSGI middleware: answers 403, empty, to a request whose url does not carry one of
    `tokens` as its `parameter`, and hands the others to `app` (put it outside
    HandshakeMiddleware, so that a handshake must carry a token too). `tokens` is read on
    every request: a set the app changes while it runs (old and new during a rotation, then
    the new alone) takes effect at once. `paths` limits it as HandshakeMiddleware's does."""

    def __init__(
        self,
        app: WSGIApplication,
        tokens: Iterable[str],
        parameter: str = "token",
        paths: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.parameter = parameter
        self.paths = frozenset(paths) if paths is not None else None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        guarded = self.paths is None or environ.get("PATH_INFO", "") in self.paths
        query = environ.get("QUERY_STRING", "")
        if guarded and not token_accepted(
            query if isinstance(query, str) else "", self.tokens, self.parameter
        ):
            start_response("403 Forbidden", [("Content-Length", "0")])
            return [b""]
        return self.app(environ, start_response)
