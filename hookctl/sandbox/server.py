"""A Keap-compatible hooks API on loopback, with a receiver, event delivery and fault injection.

Keap's paths live under /crm/rest/v1 and answer what ../shared/keap/hooks-openapi.yaml declares.
Where that definition is silent the sandbox does what Keap most plausibly does; each such choice
is marked "Assumption" below. Admin paths under /_sandbox are not Keap's and need no credentials
(the sandbox is a local test tool; bind it to loopback).
"""

from __future__ import annotations

import hmac
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hookctl.domain.models import KNOWN_EVENT_KEYS, Hook, parse_status
from hookctl.domain.urls import is_loopback
from hookctl.sandbox.deliveries import DeliveryLog
from hookctl.sandbox.events import Changed, Deliverer, Shape
from hookctl.sandbox.faults import FaultInjector, Faults
from hookctl.sandbox.http import DROP, Response, Server, error_response, json_response
from hookctl.sandbox.objects import (
    COLLECTION_EVENTS,
    CREATE_STATUS,
    ObjectLimit,
    Objects,
    collection_of,
)
from hookctl.sandbox.outbound import Outbound, loopback_only_from_env
from hookctl.sandbox.parsing import (
    EVENT_KEYS,
    ROUTES,
    BadRequest,
    hook_request,
    json_body,
    object_fields,
    quota_request,
    route,
    seed_request,
    trigger_request,
)
from hookctl.sandbox.quota import DEFAULT_DAILY_QUOTA, DailyQuota
from hookctl.sandbox.receiver import PREFIX as RECEIVER_PREFIX
from hookctl.sandbox.receiver import Received, Receiver
from hookctl.sandbox.store import Store
from hookctl.sandbox.tokens import Tokens

logger = logging.getLogger(__name__)

API_PREFIX = "/crm/rest/v1"
ADMIN_PREFIX = "/_sandbox"
DEFAULT_PORT = 8787
DEFAULT_TIME_SCALE = 0.001
# Keap documents no handshake timeout; its deliveries time out after 30 s.
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
TOKEN_PATH = "/token"

_THROTTLED_BODY = {
    "code": "429",
    "message": "Quota Exceeded",
    "status": "Request Throttled",
    "details": None,
}
_GATEWAY_FAULT = {
    "fault": {
        "faultstring": "Invalid access token",
        "detail": {"errorcode": "oauth.v2.InvalidAccessToken"},
    }
}
_HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream server is not answering.</p></body></html>"
)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class SandboxSettings:
    """What a sandbox is: where it listens, what it stores and accepts, how it misbehaves."""

    host: str = "127.0.0.1"
    # 0: a free port, chosen when it starts.
    port: int = 0
    db: str | os.PathLike[str] = ":memory:"
    # The X-Keap-API-Key it accepts (None: none), and an OAuth access token it accepts besides
    # those its /token issues.
    api_key: str | None = "sandbox-key"
    access_token: str | None = None
    # Bounds every outbound call (handshakes and deliveries), in seconds.
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    faults: Faults = field(default_factory=Faults)
    # Multiplies Keap's delivery delays (30 s .. 30 min) and the 24 h lifetime of the access
    # tokens /token issues.
    time_scale: float = DEFAULT_TIME_SCALE
    # Handshakes and deliveries go to loopback hookUrls only unless allow_outbound (and never
    # when HOOKCTL_SANDBOX_LOOPBACK_ONLY is set): a url on another host stays Unverified, and a
    # warning says why.
    allow_outbound: bool = False
    # Calls a UTC day before 429 "Quota Exceeded" (None: no quota and no quota headers).
    daily_quota: int | None = DEFAULT_DAILY_QUOTA
    # The OAuth app /token knows.
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    # The body deliveries carry, "documented" or "field" (as a real body seen in the field:
    # see events.payload).
    payload_shape: Shape = "documented"


class Sandbox:
    """The server and its state. Start it once, stop it once (also a context manager)."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        settings = settings or SandboxSettings()
        self.settings = settings
        self._host = settings.host
        self._port = settings.port
        self._api_key = settings.api_key
        self._access_token = settings.access_token
        self._store = Store(settings.db)
        self._faults = FaultInjector(settings.faults)
        self._quota = DailyQuota(settings.daily_quota)
        self.tokens = Tokens(settings.client_id, settings.client_secret, settings.time_scale)
        loopback_only = not settings.allow_outbound or loopback_only_from_env()
        self._outbound = Outbound(settings.handshake_timeout, loopback_only)
        self._receiver = Receiver(slow_delay=settings.handshake_timeout + 0.5)
        self.objects = Objects()
        self.deliveries = DeliveryLog()
        self.payload_shape: Shape = settings.payload_shape
        self._deliverer = Deliverer(
            self._store, self._outbound, settings.time_scale, self.deliveries
        )
        self._stats_lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._responses: Counter[str] = Counter()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._server = Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # shutdown() waits for the loop to notice; a short poll keeps stop() fast.
            kwargs={"poll_interval": 0.01},
            name="sandbox-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
            if self._thread is not None:
                self._thread.join()
        self._deliverer.stop()
        self._store.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's root, e.g. http://127.0.0.1:8787."""
        if self._server is None:
            raise RuntimeError("sandbox not started")
        host, port = self._server.server_address[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(str(host), str(host))
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def bound_to(self) -> str:
        """The address the server listens on, as bound (0.0.0.0 is every interface)."""
        if self._server is None:
            raise RuntimeError("sandbox not started")
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def loopback_only(self) -> bool:
        """Whether only this machine can reach the server."""
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return is_loopback(str(self._server.server_address[0]))

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def receiver_url(self) -> str:
        return self.url + RECEIVER_PREFIX

    # -- in-process helpers for tests --------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults.faults

    def set_faults(self, faults: Faults) -> None:
        self._faults.configure(faults)

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Run the throttle's token bucket and the access tokens' expiry on `clock` (monotonic
        seconds) instead of the machine's, so that tests decide when time passes."""
        self._faults.set_clock(clock)
        self.tokens.clock = clock

    def stats(self) -> dict[str, dict[str, int]]:
        """Keap API calls per "METHOD /route/{template}", and answers per status ("dropped" for
        a connection closed without one)."""
        with self._stats_lock:
            return {"calls": dict(self._calls), "responses": dict(self._responses)}

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._calls.clear()
            self._responses.clear()

    def seed(self, hooks: list[tuple[str, str, str]]) -> list[Hook]:
        """Insert subscriptions as they are, without handshake or validation of the event key."""
        return [
            self._store.create(event_key, hook_url, parse_status(status))
            for event_key, hook_url, status in hooks
        ]

    def set_status(self, key: str, status: str) -> Hook:
        hook = self._store.set_status(key, parse_status(status))
        if hook is None:
            raise KeyError(key)
        return hook

    def hooks(self) -> list[Hook]:
        return self._store.list()

    def fire_event(
        self,
        event_key: str,
        object_ids: list[Any],
        wait: bool = True,
        shape: Shape | None = None,
    ) -> dict[str, Any]:
        """Deliver event_key for object_ids to its Verified subscriptions, as Keap would, each
        key's apiUrl pointing at the object on this sandbox.

        With wait, blocks until every delivery has succeeded or been given up and returns each
        outcome; without, returns at once (see wait_idle)."""
        if event_key not in EVENT_KEYS:
            raise ValueError(f"unknown event key: {event_key}")
        base = f"{self.api_url}/{collection_of(event_key)}"
        changed = [Changed(object_id, f"{base}/{object_id}") for object_id in object_ids]
        return self._deliverer.fire(event_key, changed, wait, shape or self.payload_shape)

    def trigger(
        self,
        event_key: str,
        objects: list[dict[str, Any]],
        wait: bool = True,
        shape: Shape | None = None,
    ) -> dict[str, Any]:
        """Make the change that produces event_key for each object's fields, then deliver one
        event for them all (batched by 1,000, as Keap batches). `.add` creates the objects;
        `.delete` creates then deletes them; every other verb creates them and then applies
        the fields again as the change (Keap's own verbs, such as `task.complete` or
        `contactGroup.applied`, have no v1 call of their own the sandbox could tell apart)."""
        if event_key not in EVENT_KEYS:
            raise ValueError(f"unknown event key: {event_key}")
        collection = collection_of(event_key)
        verb = event_key.rsplit(".", 1)[1]
        since = self.deliveries.newest()
        ids = []
        for fields in objects:
            made = self.objects.create(collection, fields)
            if verb == "delete":
                self.objects.delete(collection, made["id"])
            elif verb != "add":
                self.objects.update(collection, made["id"], fields)
            ids.append(str(made["id"]))
        outcome = self.fire_event(event_key, ids, wait, shape)
        outcome["objects"] = ids
        # The attempts these objects' deliveries made (ids are unique within a collection).
        mine = set(ids)
        outcome["attempts"] = [
            record.to_json()
            for record in self.deliveries.after(since)
            if record.event_key == event_key
            and {str(key.get("id")) for key in record.body["object_keys"]} <= mine
        ]
        return outcome

    def set_time_scale(self, time_scale: float) -> None:
        """Keap's delays (30 s .. 30 min, and the 30 s answer timeout) times time_scale; 1 is
        Keap's real clock."""
        if not 0 < time_scale <= 1:
            raise ValueError("time_scale must be above 0 and at most 1")
        self._deliverer.time_scale = time_scale

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for every queued delivery to end; False if the timeout came first."""
        return self._deliverer.wait_idle(timeout)

    def received(self) -> list[Received]:
        return self._receiver.received()

    def clear_received(self) -> None:
        self._receiver.clear()

    def last_secret(self, url: str) -> str | None:
        """The last X-Hook-Secret the built-in receiver got at url; in-process only, for tests
        of delayed verification. No HTTP call exposes it and nothing logs it."""
        return self._receiver.last_secret(url)

    def set_quota(self, limit: int | None, used: int = 0) -> None:
        """A daily quota of `limit` calls (None: none), `used` of them spent today."""
        self._quota.configure(limit, used)

    def _oauth_admin(self, call: str) -> Response:
        if call == "POST /oauth/code":
            return json_response(200, {"code": self.tokens.new_code()})
        if call == "POST /oauth/refresh-token":
            return json_response(200, {"refresh_token": self.tokens.new_refresh_token()})
        if call == "POST /oauth/expire":
            self.tokens.expire_all()
            return Response(204)
        if call == "GET /oauth":
            return json_response(
                200, {"client_id": self.tokens.client_id, "refreshes": self.tokens.refreshes}
            )
        return error_response(404, f"No sandbox admin call {call}")

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Message, body: bytes) -> Response | None:
        parts = urlsplit(target)
        path = parts.path
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            token = parse_qs(parts.query).get("access_token", [None])[0]
            return self._api(method, path[len(API_PREFIX) :], headers, body, token)
        if path == TOKEN_PATH:
            return self._token(method, headers, body)
        if path == RECEIVER_PREFIX or path.startswith(RECEIVER_PREFIX + "/"):
            return self._receive(method, path, headers, body)
        if path.startswith(ADMIN_PREFIX + "/"):
            return self._admin(method, path[len(ADMIN_PREFIX) :], body, parse_qs(parts.query))
        return error_response(404, f"No handler found for {method} {path}")

    def _api(
        self, method: str, path: str, headers: Message, body: bytes, query_token: str | None
    ) -> Response | None:
        template, key = route(method, path.rstrip("/") or "/")
        if template is None:
            return error_response(404, f"No handler found for {method} {API_PREFIX}{path}")
        with self._stats_lock:
            self._calls[f"{method} {template}"] += 1
        if self._faults.latency:
            time.sleep(self._faults.latency)
        # Assumption: Keap's gateway throttles before it checks credentials, so every answer,
        # a 401 too, spends a token and carries the throttle headers.
        throttle = self._faults.throttle()
        quota = self._quota.take() if throttle.allowed else None
        response: Response | None
        if not throttle.allowed or (quota is not None and not quota.allowed):
            response = json_response(429, _THROTTLED_BODY)
        elif (refusal := self._authenticate(headers, query_token)) is not None:
            response = refusal
        elif (injected := self._faults.pick_error()) == 500:
            response = error_response(500, "Internal Server Error")
        elif injected == 502:
            response = Response(502, _HTML_502, {"Content-Type": "text/html"})
        elif method not in ROUTES[template]:
            allowed = {"Allow": ", ".join(ROUTES[template])}
            response = error_response(405, f"Request method '{method}' is not supported", allowed)
        else:
            try:
                response = self._operation(method, template, key, headers, body)
            except BadRequest as error:
                response = error_response(400, error.message)
        with self._stats_lock:
            self._responses["dropped" if response is DROP else str(response.status)] += 1
        if response is not DROP:
            response.headers.update(throttle.headers)
            response.headers.update(quota.headers if quota else {})
        return response

    def _authenticate(self, headers: Message, query_token: str | None) -> Response | None:
        api_key = headers.get("X-Keap-API-Key")
        if api_key is not None and self._api_key is not None and _same(api_key, self._api_key):
            return None
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            # Older SDKs send every call with ?access_token=, as Keap still accepts.
            scheme, token = ("bearer", query_token) if query_token is not None else (scheme, "")
        if scheme.lower() == "bearer":
            token = token.strip()
            fixed = self._access_token is not None and _same(token, self._access_token)
            if fixed or self.tokens.accepts(token):
                return None
            # A refused token is turned away by Keap's gateway, in the gateway's own shape.
            return json_response(401, _GATEWAY_FAULT)
        if api_key is not None:
            return error_response(401, "Invalid API key")
        return error_response(
            401,
            "Missing credentials: send X-Keap-API-Key, Authorization: Bearer or ?access_token=",
        )

    def _token(self, method: str, headers: Message, body: bytes) -> Response:
        if method != "POST":
            return error_response(405, "The token endpoint answers POST only", {"Allow": "POST"})
        answer = self.tokens.answer(headers.get("Authorization"), body)
        # Token answers are never cached (RFC 6749 5.1).
        return json_response(answer.status, answer.body, {"Cache-Control": "no-store"})

    def _operation(
        self, method: str, template: str, key: str, headers: Message, body: bytes
    ) -> Response | None:
        if not template.startswith("/hooks"):
            return self._object(method, template, key, body)
        if template == "/hooks/event_keys":
            return json_response(200, list(KNOWN_EVENT_KEYS))
        if template == "/hooks":
            if method == "GET":
                return json_response(200, [hook.to_keap() for hook in self._store.list()])
            return self._create(*hook_request(body))
        hook = self._store.get(key)
        if hook is None:
            # 404 on every keyed operation, verify and delayedVerify too, as Keap declares.
            return error_response(404, f"Hook subscription with key {key} not found")
        if template == "/hooks/{key}/verify":
            return self._verify(hook)
        if template == "/hooks/{key}/delayedVerify":
            return self._delayed_verify(hook, headers.get("X-Hook-Secret"))
        if method == "GET":
            return json_response(200, hook.to_keap())
        if method == "DELETE":
            self._store.delete(key)
            return Response(204)
        return self._update(hook, *hook_request(body))

    def _object(self, method: str, template: str, key: str, body: bytes) -> Response:
        """Keap's v1 object paths: the change fires the event Keap fires for it (a contact
        created through the API fires contact.add), delivered in the background."""
        collection = template.split("/")[1]
        noun = COLLECTION_EVENTS.get(collection)
        if template == f"/{collection}":
            if method == "GET":
                # Assumption: Keap's list answers wrap the items with a count, as ContactList does.
                items = self.objects.list(collection)
                return json_response(200, {collection: items, "count": len(items)})
            try:
                made = self.objects.create(collection, object_fields(body))
            except ObjectLimit as error:
                return error_response(400, str(error))
            self._changed(noun, "add", made["id"])
            return json_response(CREATE_STATUS.get(collection, 201), made)
        object_id = int(key) if key.isdigit() and len(key) <= 18 else 0
        found = self.objects.get(collection, object_id)
        if found is None:
            return error_response(404, f"No {collection} object with id {key}")
        if method == "GET":
            return json_response(200, found)
        if method == "DELETE":
            self.objects.delete(collection, object_id)
            self._changed(noun, "delete", object_id)
            return Response(204)
        fields = object_fields(body)
        changed = self.objects.update(collection, object_id, fields, replace=method == "PUT")
        self._changed(noun, "edit", object_id)
        return json_response(200, changed or found)

    def _changed(self, noun: str | None, verb: str, object_id: int) -> None:
        event_key = f"{noun}.{verb}"
        if noun is not None and event_key in EVENT_KEYS:
            self.fire_event(event_key, [str(object_id)], wait=False)

    def _create(self, event_key: str, hook_url: str) -> Response | None:
        # Assumption: Keap stores the subscription before the handshake (the secret must belong
        # to a key for delayedVerify), so a concurrent list may see it Unverified for a moment.
        # Duplicates of an (eventKey, hookUrl) pair are accepted, as Keap does.
        hook = self._handshake(self._store.create(event_key, hook_url, "Unverified"))
        if self._faults.take_drop():
            logger.info("created hook %s, dropping the connection (fault)", hook.key)
            return DROP
        return json_response(200, hook.to_keap())

    def _update(self, hook: Hook, event_key: str, hook_url: str) -> Response:
        updated = self._store.update(hook.key, event_key, hook_url) or hook
        if hook_url != hook.hook_url:
            # Assumption: a new hookUrl has not shown it wants the events, so it gets a new
            # handshake and is Verified only if that succeeds, whatever the old status was. An
            # eventKey change alone keeps the status (the receiver already proved itself).
            updated = self._handshake(self._store.set_status(hook.key, "Unverified") or updated)
        return json_response(200, updated.to_keap())

    def _verify(self, hook: Hook) -> Response:
        """Assumption: only a successful handshake changes the status (to Verified): a failed one
        leaves an Inactive hook Inactive and a Verified hook Verified."""
        return json_response(200, self._handshake(hook).to_keap())

    def _delayed_verify(self, hook: Hook, secret: str | None) -> Response:
        # Assumption: a missing header is a 400 (Spring's answer to a missing required header);
        # a wrong secret, or none issued, is a 403 (declared for this operation). A secret verifies
        # once: it is forgotten when it or a handshake succeeds.
        if secret is None:
            raise BadRequest("Missing request header 'X-Hook-Secret'")
        issued = self._store.secret(hook.key)
        if issued is None or not _same(secret, issued):
            return error_response(
                403, "X-Hook-Secret does not match the secret sent to the hookUrl"
            )
        self._store.set_secret(hook.key, None)
        verified = self._store.set_status(hook.key, "Verified") or hook
        return json_response(200, verified.to_keap())

    def _handshake(self, hook: Hook) -> Hook:
        refused = self._outbound.refusal(hook.hook_url)
        if refused:
            logger.warning("hook %s stays Unverified: %s", hook.key, refused)
        verified, secret = self._outbound.handshake(hook.hook_url)
        logger.debug("hook %s: handshake %s", hook.key, "succeeded" if verified else "failed")
        if not verified:
            self._store.set_secret(hook.key, secret)
            return self._store.get(hook.key) or hook
        self._store.set_secret(hook.key, None)
        return self._store.set_status(hook.key, "Verified") or hook

    def _receive(self, method: str, path: str, headers: Message, body: bytes) -> Response:
        if method != "POST":
            return error_response(405, "The receiver answers POST only")
        answer = self._receiver.answer(path, headers.get("X-Hook-Secret"), body)
        if answer.delay:
            time.sleep(answer.delay)
        return Response(answer.status, b"", answer.headers)

    def _admin(self, method: str, path: str, body: bytes, query: dict[str, list[str]]) -> Response:
        try:
            call = f"{method} {path.rstrip('/')}"
            if call.startswith(("GET /deliveries", "POST /deliveries/", "POST /trigger")):
                return self._deliveries_admin(call, body, query)
            if call in ("GET /clock", "PUT /clock"):
                if call == "PUT /clock":
                    data = json_body(body)
                    scale = data.get("time_scale") if isinstance(data, dict) else None
                    if not isinstance(scale, (int, float)) or isinstance(scale, bool):
                        raise BadRequest('body must be {"time_scale": a number in (0, 1]}')
                    self.set_time_scale(float(scale))
                return json_response(200, self._clock())
            return self._admin_call(call, body)
        except (BadRequest, ValueError, KeyError) as error:
            message = error.message if isinstance(error, BadRequest) else str(error)
            return error_response(400, message)

    def _clock(self) -> dict[str, Any]:
        return {
            "time_scale": self._deliverer.time_scale,
            "delivery_timeout": self._deliverer.timeout,
            "payload_shape": self.payload_shape,
        }

    def _deliveries_admin(self, call: str, body: bytes, query: dict[str, list[str]]) -> Response:
        if call == "POST /trigger":
            event_key, objects, shape, wait = trigger_request(body)
            chosen: Shape = "field" if shape == "field" else "documented"
            try:
                outcome = self.trigger(event_key, objects, wait, chosen if shape else None)
            except ObjectLimit as error:
                raise BadRequest(str(error)) from None
            return json_response(200, outcome)
        if call == "GET /deliveries":
            after = _query_int(query, "after", 0)
            limit = _query_int(query, "limit", 1000)
            # A follower's long poll, bounded so that a server thread is never held long.
            poll = min(_query_int(query, "wait_ms", 0), _MAX_POLL_MS) / 1000
            records = self.deliveries.after(after, limit, poll)
            return json_response(200, [record.to_json() for record in records])
        if call.startswith("POST /deliveries/") and call.endswith("/resend"):
            text = call[len("POST /deliveries/") : -len("/resend")]
            record = self.deliveries.get(int(text)) if text.isdigit() and len(text) < 18 else None
            if record is None:
                return error_response(404, f"No delivery with id {text}")
            return json_response(200, self._deliverer.resend(record).to_json())
        return error_response(404, f"No sandbox admin call {call}")

    def _admin_call(self, call: str, body: bytes) -> Response:
        if call == "GET /health":
            return json_response(200, {"status": "ok"})
        if call == "GET /stats":
            return json_response(200, self.stats())
        if call == "POST /stats/reset":
            self.reset_stats()
            return Response(204)
        if call == "GET /faults":
            return json_response(200, self.faults.to_json())
        if call == "PUT /faults":
            self.set_faults(Faults.from_json(json_body(body)))
            return json_response(200, self.faults.to_json())
        if call == "POST /events":
            return json_response(200, self._fire(json_body(body)))
        if call in ("GET /quota", "PUT /quota"):
            if call == "PUT /quota":
                self.set_quota(*quota_request(body))
            return json_response(200, self._quota.to_json())
        if call.startswith(("POST /oauth/", "GET /oauth")):
            return self._oauth_admin(call)
        if call == "GET /receiver-log":
            return json_response(200, [record.to_json() for record in self.received()])
        if call == "DELETE /receiver-log":
            self.clear_received()
            return Response(204)
        if call == "GET /hooks":
            return json_response(200, [hook.to_keap() for hook in self.hooks()])
        if call == "POST /hooks":
            return json_response(200, [hook.to_keap() for hook in self.seed(seed_request(body))])
        if call.startswith("PUT /hooks/") and call.endswith("/status"):
            key = call[len("PUT /hooks/") : -len("/status")]
            data = json_body(body)
            status = data.get("status") if isinstance(data, dict) else None
            if self._store.get(key) is None:
                return error_response(404, f"Hook subscription with key {key} not found")
            return json_response(200, self.set_status(key, str(status)).to_keap())
        return error_response(404, f"No sandbox admin call {call}")

    def _fire(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadRequest('body must be {"event_key": ..., "object_keys": [...]}')
        event_key, object_keys = data.get("event_key"), data.get("object_keys")
        wait = data.get("wait", True)
        if not isinstance(event_key, str) or event_key not in EVENT_KEYS:
            raise BadRequest(f"event_key must be one of the event types, not {event_key!r}")
        if not isinstance(object_keys, list) or not object_keys:
            raise BadRequest("object_keys must be a non-empty list of object ids")
        if not all(isinstance(item, (int, str)) for item in object_keys):
            raise BadRequest("object_keys must hold integers or strings")
        if not isinstance(wait, bool):
            raise BadRequest("wait must be true or false")
        return self.fire_event(event_key, object_keys, wait)


_MAX_POLL_MS = 5000


def _query_int(query: dict[str, list[str]], name: str, default: int) -> int:
    text = query.get(name, [str(default)])[0]
    if not text.isdigit() or len(text) > 12:
        raise BadRequest(f"{name} must be a whole number")
    return int(text)


def serve(
    settings: SandboxSettings | None = None,
    *,
    announce: Callable[[Sandbox], None] | None = None,
) -> None:
    """Run a sandbox until Ctrl-C or SIGTERM (the `hookctl sandbox` command), on DEFAULT_PORT
    unless `settings` name another; `announce` is called once it listens."""
    sandbox = Sandbox(settings or SandboxSettings(port=DEFAULT_PORT))
    stopping = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    with sandbox:
        logger.info(
            "listening on %s (API %s, receiver %s)",
            sandbox.url,
            sandbox.api_url,
            sandbox.receiver_url,
        )
        if announce is not None:
            announce(sandbox)
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, on_sigterm)
        try:
            while not stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        logger.info("stopping")
