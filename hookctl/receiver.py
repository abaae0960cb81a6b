"""For the receiving side: answer Keap's verification handshake correctly.

When a subscription is created or verified, Keap POSTs an empty body to the hook url with a
random `X-Hook-Secret` header, and verifies the subscription only if the answer is status 200
with the same header and value. Event deliveries come without that header.

    from hookctl.receiver import HandshakeMiddleware
    app.wsgi_app = HandshakeMiddleware(app.wsgi_app)      # Flask; any WSGI app alike

or, in any framework, `handshake_headers(request.headers)`: the headers to answer with (an
empty dict when the request is not a handshake). The README has snippets for Flask, FastAPI
and Django.

Standard library only, so that a receiver can import it without installing hookctl's
dependencies (copying this file is fine too). It never logs or stores the secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["HEADER", "HandshakeMiddleware", "handshake_headers", "is_handshake"]

HEADER = "X-Hook-Secret"
# What an echoed value may hold: visible ASCII, bounded. Anything else (a newline above all)
# would let the request write the answer's headers; Keap's secrets are short and plain.
_VALUE = re.compile(r"[\x21-\x7e]{1,1024}")


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
    secret echoed and an empty body, a POST whose X-Hook-Secret cannot be echoed (over 1,024
    characters, a space or a non-ASCII character in it) with 400, and hands every other
    request to `app`.

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
            if "HTTP_X_HOOK_SECRET" in environ:
                # A secret that cannot be echoed (too long, a space, non-ASCII) is no
                # handshake Keap sends, and no event either: the app never sees it.
                body = b"invalid X-Hook-Secret\n"
                start_response(
                    "400 Bad Request",
                    [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.app(environ, start_response)


def _wsgi_headers(environ: WSGIEnvironment) -> Iterator[tuple[str, str]]:
    # WSGI spells request headers as HTTP_X_HOOK_SECRET; only this one matters here.
    value = environ.get("HTTP_X_HOOK_SECRET")
    if isinstance(value, str):
        yield HEADER, value
