"""Built-in fixtures for `hookctl trigger`: the fields of the object each event type's change
makes, in the shapes of Keap's published v1 document, and the overrides `--set` applies.

Pure: no I/O. The sandbox creates objects from these fields; the CLI builds them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

# Per event noun (the event key without its verb). Field names are those of the schemas Keap's
# v1 document (api-evangelist/keap @ d3ed7ed9) gives its answers: FullContact, Company, Order and
# EcommerceReportingOrder (orders, invoices), EcommerceReportingTransaction (invoice payments),
# Opportunity, Task, Note, Appointment, RestProductV1, Subscription, Tag, RestUser; lead sources
# have no v1 schema. tests/e2e/sandbox/test_sandbox_objects_as_keap.py validates each. Values are
# made up and use example.com addresses only.
FIXTURES: dict[str, dict[str, Any]] = {
    "contact": {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email_addresses": [{"email": "ada@example.com", "field": "EMAIL1"}],
        "phone_numbers": [{"number": "555-0100", "field": "PHONE1"}],
        "source_type": "API",
    },
    "company": {
        "company_name": "Analytical Engines Ltd",
        "email_address": "office@example.com",
        "website": "https://example.com",
    },
    "order": {"title": "Sandbox order", "status": "DRAFT", "contact": {"id": 101}},
    "invoice": {"title": "Sandbox invoice", "status": "UNPAID", "contact": {"id": 101}},
    "invoice.payment": {
        "amount": 49.0,
        "currency": "USD",
        "status": "Approved",
        "contact_id": 101,
    },
    "opportunity": {
        "opportunity_title": "Sandbox opportunity",
        "contact": {"id": 101},
        "stage": {"id": 1, "name": "New"},
    },
    "task": {"title": "Call Ada back", "priority": 1, "completed": False},
    "note": {"title": "Sandbox note", "body": "Spoke on the phone.", "contact_id": 101},
    "appointment": {
        "title": "Sandbox appointment",
        "start_date": "2030-01-15T09:00:00.000Z",
        "end_date": "2030-01-15T10:00:00.000Z",
    },
    "product": {"product_name": "Sandbox product", "product_price": 49.0, "active": True},
    "subscription": {"product_id": 101, "contact_id": 101, "billing_frequency": 1},
    "contactGroup": {"name": "Sandbox tag", "description": "Made by hookctl trigger"},
    "user": {"email_address": "user@example.com", "given_name": "Grace", "status": "Active"},
    "leadsource": {"name": "Sandbox lead source", "status": "Active"},
}

# Short names `--set` accepts for a fixture's nested fields (Keap keeps a contact's email in a
# list of addresses; `--set email=...` is what a person types).
ALIASES: dict[str, dict[str, str]] = {
    "contact": {"email": "email_addresses.0.email", "phone": "phone_numbers.0.number"},
}

# Bounds on what a trigger may ask for: objects in one trigger, and the depth of a --set path.
MAX_COUNT = 10_000
_MAX_PATH_DEPTH = 8


class OverrideError(ValueError):
    """An override that cannot apply: its text says which and why."""


def fixture(event_key: str) -> dict[str, Any]:
    """A copy of the built-in fields for event_key's object."""
    noun = event_key.rsplit(".", 1)[0]
    if noun not in FIXTURES:
        raise OverrideError(f"no built-in fixture for {event_key}")
    return copy.deepcopy(FIXTURES[noun])


def parse_override(text: str) -> tuple[str, Any]:
    """`path=text` sets a string; `path:=json` sets a JSON value (number, true, null, a list).
    A path is dotted, list items by index: `email_addresses.0.email`."""
    equals = text.find("=")
    typed = equals > 0 and text[equals - 1] == ":"
    path, value = text[: equals - typed], text[equals + 1 :]
    if equals <= typed:
        raise OverrideError(f"--set {text!r}: expected FIELD=VALUE or FIELD:=JSON")
    if not typed:
        return path, value
    try:
        return path, json.loads(value)
    except ValueError:
        raise OverrideError(f"--set {path}: {value!r} is not JSON") from None


def apply_overrides(
    event_key: str, fields: Mapping[str, Any], overrides: list[tuple[str, Any]]
) -> dict[str, Any]:
    """fields with each (path, value) set, aliases resolved; lists grow by one item at most."""
    result = copy.deepcopy(dict(fields))
    aliases = ALIASES.get(event_key.rsplit(".", 1)[0], {})
    for path, value in overrides:
        parts = aliases.get(path, path).split(".")
        if len(parts) > _MAX_PATH_DEPTH or not all(parts):
            raise OverrideError(f"--set {path}: not a usable field path")
        _set(result, parts, value, path)
    return result


def _set(node: Any, parts: list[str], value: Any, shown: str) -> None:
    *parents, last = parts
    for index, part in enumerate(parents):
        following = parts[index + 1]
        child: Any = [] if following.isdigit() else {}
        node = _child(node, part, child, shown)
    _assign(node, last, value, shown)


def _child(node: Any, part: str, default: Any, shown: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            node[part] = default
        if isinstance(node[part], (dict, list)):
            return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) <= len(node):
        if int(part) == len(node):
            node.append(default)
        return node[int(part)]
    raise OverrideError(f"--set {shown}: {part!r} does not fit the fixture's shape")


def _assign(node: Any, part: str, value: Any, shown: str) -> None:
    if isinstance(node, dict):
        node[part] = value
    elif isinstance(node, list) and part.isdigit() and int(part) <= len(node):
        if int(part) == len(node):
            node.append(value)
        else:
            node[int(part)] = value
    else:
        raise OverrideError(f"--set {shown}: {part!r} does not fit the fixture's shape")
