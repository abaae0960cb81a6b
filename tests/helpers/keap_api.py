"""Keap's hooks operations, as the sandbox and OpenAPI tests exercise them."""

from __future__ import annotations

from typing import Any

# Every operation as (method, path, route template, request body).
OPERATIONS: list[tuple[str, str, str, Any]] = [
    ("GET", "/hooks/event_keys", "/hooks/event_keys", None),
    ("GET", "/hooks", "/hooks", None),
    ("POST", "/hooks", "/hooks", {"eventKey": "contact.add", "hookUrl": "http://127.0.0.1:9/x"}),
    ("GET", "/hooks/1", "/hooks/{key}", None),
    ("PUT", "/hooks/1", "/hooks/{key}", {"eventKey": "contact.add", "hookUrl": "http://x.test/"}),
    ("DELETE", "/hooks/1", "/hooks/{key}", None),
    ("POST", "/hooks/1/verify", "/hooks/{key}/verify", None),
    ("POST", "/hooks/1/delayedVerify", "/hooks/{key}/delayedVerify", None),
]
