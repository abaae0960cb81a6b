"""For the receiving side: answer Keap's verification handshake, read a delivery, fetch the
objects it names.

When a subscription is created or verified, Keap POSTs an empty body to the hook url with a
random `X-Hook-Secret` header, and verifies the subscription only if the answer is status 200
with the same header and value. Event deliveries come without that header.

    from hookctl.receiver import HandshakeMiddleware
    app.wsgi_app = HandshakeMiddleware(app.wsgi_app)      # Flask; any WSGI app alike

or, in any framework, `handshake_headers(request.headers)`: the headers to answer with (an
empty dict when the request is not a handshake). The README has snippets for Flask, FastAPI
and Django.

A delivery (an event) is a POST of `{"event_key", "object_type", "object_keys": [{"id",
"apiUrl", "timestamp"}]}` with ids only: `parse_delivery(body)` reads it into a `Delivery`,
tolerant of both shapes Keap sends (the documented one, and the one seen in the field with
`"apiUrl": ""`, integer ids and timestamps without milliseconds), and `fetch_objects(delivery,
get)` fetches each object through `get`, a function of a url you write with your own
authenticated client, paced and bounded. Answer Keap within seconds and fetch afterwards (a
queue, a background task): Keap gives a receiver 30 s, and four failures make the subscription
Inactive.

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
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "HEADER",
    "Delivery",
    "DeliveryError",
    "HandshakeMiddleware",
    "ObjectKey",
    "TokenMiddleware",
    "fetch_objects",
    "handshake_headers",
    "is_handshake",
    "object_url",
    "parse_delivery",
    "token_accepted",
]

T = TypeVar("T")

# Keap sends at most 1,000 objects in one delivery; a body past these bounds is not Keap's.
MAX_KEYS = 1000
MAX_BODY_BYTES = 1024 * 1024
_MAX_ID_CHARS = 64
_EVENT_KEY = re.compile(r"[A-Za-z]{1,40}(\.[A-Za-z_]{1,40}){1,3}")

# Where each event noun's objects live in Keap's v1 API, for a key without an apiUrl (the field
# shape). Ids of invoice.* are order ids; of invoice.payment.*, transaction ids; contactGroup is
# Keap's old name for a tag. Lead sources have no v1 path (the sandbox serves /leadsources).
OBJECT_COLLECTIONS: dict[str, str] = {
    "appointment": "appointments",
    "company": "companies",
    "contact": "contacts",
    "contactGroup": "tags",
    "invoice": "orders",
    "invoice.payment": "transactions",
    "leadsource": "leadsources",
    "note": "notes",
    "opportunity": "opportunities",
    "order": "orders",
    "product": "products",
    "subscription": "subscriptions",
    "task": "tasks",
    "user": "users",
}

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


class DeliveryError(ValueError):
    """A body that is not a Keap delivery; answer it with 400 (Keap never sends one)."""


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """One changed object: its id as text (Keap sends strings or integers), the url to fetch
    it at (None when Keap sent `""`), and when it changed (None when unreadable)."""

    id: str
    api_url: str | None
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery: the event, the kind of object, and the changed objects' keys."""

    event_key: str
    object_type: str
    keys: tuple[ObjectKey, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key.id for key in self.keys)


def parse_delivery(body: bytes | str | Mapping[str, Any]) -> Delivery:
    """The delivery in a request's body (bytes, text or parsed JSON), either shape Keap sends;
    DeliveryError when it is not one."""
    data: Any = body
    if isinstance(body, (bytes, str)):
        if len(body) > MAX_BODY_BYTES:
            raise DeliveryError("body larger than a Keap delivery can be")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise DeliveryError("body is not JSON") from None
    if not isinstance(data, Mapping):
        raise DeliveryError("body is not a JSON object")
    event_key = data.get("event_key")
    if not isinstance(event_key, str) or not _EVENT_KEY.fullmatch(event_key):
        raise DeliveryError("event_key is missing or not noun.verb")
    object_type = data.get("object_type")
    if not isinstance(object_type, str) or not object_type:
        object_type = event_key.rsplit(".", 1)[0]
    raw_keys = data.get("object_keys")
    if not isinstance(raw_keys, list) or not 0 < len(raw_keys) <= MAX_KEYS:
        raise DeliveryError(f"object_keys must list 1 to {MAX_KEYS} objects")
    return Delivery(event_key, object_type[:80], tuple(_key(item) for item in raw_keys))


def _key(item: Any) -> ObjectKey:
    if not isinstance(item, Mapping):
        raise DeliveryError("an object key is not a JSON object")
    raw_id = item.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)):
        raise DeliveryError("an object key has no id")
    object_id = str(raw_id).strip()
    if not object_id or len(object_id) > _MAX_ID_CHARS or not object_id.isprintable():
        raise DeliveryError("an object key's id is empty or too long")
    api_url = item.get("apiUrl")
    usable = isinstance(api_url, str) and api_url.startswith(("https://", "http://"))
    return ObjectKey(object_id, api_url if usable else None, _timestamp(item.get("timestamp")))


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        # Python 3.10's fromisoformat does not read the "Z" Keap ends its timestamps with.
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def object_url(delivery: Delivery, key: ObjectKey, base_url: str | None = None) -> str:
    """Where to fetch `key`'s object: its apiUrl, else (an empty apiUrl, as seen in the field)
    base_url (e.g. https://api.infusionsoft.com/crm/rest/v1) with the object's v1 path."""
    if key.api_url is not None:
        return key.api_url
    collection = OBJECT_COLLECTIONS.get(delivery.object_type)
    if base_url is None or collection is None:
        raise DeliveryError(
            f"{delivery.event_key} object {key.id} has no apiUrl: pass base_url to fetch it"
        )
    return f"{base_url.rstrip('/')}/{collection}/{key.id}"


def fetch_objects(
    delivery: Delivery,
    get: Callable[[str], T],
    *,
    base_url: str | None = None,
    max_objects: int = MAX_KEYS,
    min_interval: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[T]:
    """Each distinct object of the delivery, fetched by `get(url)` (your client, with your
    credentials, timeouts and error handling), in order, at most one call every
    `min_interval` seconds (Keap's limits are per account: a burst of 1,000 fetches would be
    throttled) and at most `max_objects` of them (DeliveryError beyond). Run it after
    answering Keap, never inline."""
    seen: dict[str, ObjectKey] = {}
    for key in delivery.keys:
        seen.setdefault(key.id, key)
    if len(seen) > max_objects:
        raise DeliveryError(f"{len(seen)} objects, more than max_objects={max_objects}")
    urls = [object_url(delivery, key, base_url) for key in seen.values()]
    results: list[T] = []
    last: float | None = None
    for url in urls:
        if last is not None:
            wait = last + min_interval - clock()
            if wait > 0:
                sleep(wait)
        last = clock()
        results.append(get(url))
    return results
