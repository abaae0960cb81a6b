"""What the sandbox reads from a request: bodies, route templates and their checks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from hookctl.domain.fixtures import MAX_COUNT
from hookctl.domain.models import KNOWN_EVENT_KEYS
from hookctl.sandbox.objects import COLLECTIONS, OBJECT_ROUTES

EVENT_KEYS = frozenset(KNOWN_EVENT_KEYS)
# What each route template allows; anything else on a known template is 405.
ROUTES: dict[str, tuple[str, ...]] = {
    "/hooks": ("GET", "POST"),
    "/hooks/event_keys": ("GET",),
    "/hooks/{key}": ("GET", "PUT", "DELETE"),
    "/hooks/{key}/verify": ("POST",),
    "/hooks/{key}/delayedVerify": ("POST",),
    # The objects behind the events (hookctl.sandbox.objects), at Keap's v1 paths.
    **OBJECT_ROUTES,
}


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Keap's bodies are two levels deep; json.loads recurses once per level, and a body of a few
# hundred thousand "[" would end in RecursionError.
MAX_JSON_DEPTH = 32


def json_body(body: bytes) -> Any:
    if _depth(body) > MAX_JSON_DEPTH:
        raise BadRequest(f"Request body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise BadRequest(f"Request body is not valid JSON: {error.msg}") from None
    except UnicodeDecodeError:
        raise BadRequest("Request body is not UTF-8") from None


def _depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in `body`, brackets inside strings aside;
    one pass, stopping as soon as the bound is passed."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                break
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def hook_request(body: bytes) -> tuple[str, str]:
    """Keap declares 400 but no required property, and answers 400 to a
    body it cannot use, so a RestHookRequest needs a known eventKey and an absolute http(s)
    hookUrl, for PUT as for POST. Unknown properties are ignored, as Jackson does by default."""
    data = json_body(body)
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object with eventKey and hookUrl")
    event_key, hook_url = data.get("eventKey"), data.get("hookUrl")
    if not isinstance(event_key, str) or not event_key:
        raise BadRequest("eventKey is required")
    if not isinstance(hook_url, str) or not hook_url:
        raise BadRequest("hookUrl is required")
    if event_key not in EVENT_KEYS:
        raise BadRequest(f"Invalid eventKey: {event_key}")
    try:
        parts = urlsplit(hook_url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        usable = usable and (parts.port is None or parts.port > 0)
    except ValueError:
        usable = False
    if not usable:
        raise BadRequest("hookUrl must be an absolute http or https URL")
    return event_key, hook_url


def quota_request(body: bytes) -> tuple[int | None, int]:
    data = json_body(body)
    limit, used = (data.get("limit"), data.get("used", 0)) if isinstance(data, dict) else (0, None)
    if not (limit is None or type(limit) is int) or type(used) is not int:
        raise BadRequest('body must be {"limit": calls a day or null, "used": calls spent}')
    return limit, used


def seed_request(body: bytes) -> list[tuple[str, str, str]]:
    data = json_body(body)
    items = data if isinstance(data, list) else None
    hooks = []
    for item in items or [None]:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(name), str) for name in ("eventKey", "hookUrl", "status")
        ):
            raise BadRequest("body must be a list of {eventKey, hookUrl, status}")
        hooks.append((item["eventKey"], item["hookUrl"], item["status"]))
    return hooks


def route(method: str, path: str) -> tuple[str | None, str]:
    """(route template, key) of a path below the API prefix; (None, "") when none matches."""
    parts = path.split("/")[1:]
    if parts and parts[0] in COLLECTIONS and len(parts) <= 2:
        template = f"/{parts[0]}" if len(parts) == 1 else f"/{parts[0]}/{{id}}"
        return (template, parts[1] if len(parts) == 2 else "") if template in ROUTES else (None, "")
    if not parts or parts[0] != "hooks":
        return None, ""
    if len(parts) == 1:
        return "/hooks", ""
    key = parts[1]
    if len(parts) == 2:
        # Only GET reaches the event types; PUT /hooks/event_keys names a (missing) key, as a
        # path-variable mapping would read it.
        event_keys = key == "event_keys" and method == "GET"
        return ("/hooks/event_keys" if event_keys else "/hooks/{key}"), key
    if len(parts) == 3 and parts[2] in ("verify", "delayedVerify"):
        return f"/hooks/{{key}}/{parts[2]}", key
    return None, ""


def object_fields(body: bytes) -> dict[str, Any]:
    """An object's fields: Keap's v1 schemas are JSON objects; `id` and the dates are the
    sandbox's to set and are ignored, as Keap ignores read-only fields."""
    data = json_body(body)
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object")
    return {k: v for k, v in data.items() if k not in ("id", "date_created", "last_updated")}


def trigger_request(body: bytes) -> tuple[str, list[dict[str, Any]], str | None, bool]:
    """POST /_sandbox/trigger: {"event_key", "objects": [fields, ...], "count"?, "shape"?,
    "wait"?}; `count` copies of each object (so that many objects need not cross the wire),
    MAX_COUNT objects at most."""
    data = json_body(body)
    if not isinstance(data, dict):
        raise BadRequest('body must be {"event_key": ..., "objects": [{...}, ...]}')
    event_key, objects = data.get("event_key"), data.get("objects")
    shape, wait = data.get("shape"), data.get("wait", True)
    if not isinstance(event_key, str) or event_key not in EVENT_KEYS:
        raise BadRequest(f"event_key must be one of the event types, not {event_key!r}")
    if not isinstance(objects, list) or not objects:
        raise BadRequest("objects must be a non-empty list of objects' fields")
    if not all(isinstance(item, dict) for item in objects):
        raise BadRequest("objects must hold JSON objects")
    if shape not in (None, "documented", "field"):
        raise BadRequest('shape must be "documented" or "field"')
    if not isinstance(wait, bool):
        raise BadRequest("wait must be true or false")
    count = data.get("count", 1)
    if type(count) is not int or not 1 <= count * len(objects) <= MAX_COUNT:
        raise BadRequest(f"count must be a whole number, {MAX_COUNT} objects in all at most")
    return event_key, [fields for _ in range(count) for fields in objects], shape, wait
