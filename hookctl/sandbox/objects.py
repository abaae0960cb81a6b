"""The objects behind Keap's events: contacts, companies, orders, ... kept in memory and served
at Keap's v1 paths, so that a receiver can fetch what an event's `apiUrl` points at.

Shapes follow Keap's published v1 document (api-evangelist/keap,
openapi/_original/keap-v1-openapi.json): `FullContact` for contacts, `Task`, `Note`,
`Opportunity`, ... Keap declares no required property on most of them and the sandbox keeps
whatever JSON object it is given, adding `id` and the dates Keap sets itself.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

# Every object the sandbox serves holds at most this many fields of this size, and there are at
# most MAX_OBJECTS of them: whatever a test or a user posts stays bounded.
MAX_OBJECTS = 100_000


# The v1 collection whose objects each event noun's ids name. Assumptions where Keap's v1 has
# no path of the event's noun: an invoice is the order it bills (`invoice.*` ids are order ids);
# an invoice payment is a transaction (KEAP.md: `invoice.payment.*` ids are transaction ids);
# contactGroup is Keap's old name for a tag; lead sources have no v1 path, so the sandbox serves
# them at /leadsources.
EVENT_COLLECTIONS: dict[str, str] = {
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
# Which events a change made through the API fires: a created order is `order.add` (not
# `invoice.add`), a created tag `contactGroup.add`; transactions are made by payments only.
COLLECTION_EVENTS: dict[str, str] = {
    collection: noun
    for noun, collection in EVENT_COLLECTIONS.items()
    if noun not in ("invoice", "invoice.payment")
}
COLLECTIONS = frozenset(EVENT_COLLECTIONS.values())
# The calls Keap's v1 document has on each collection and on one of its objects, as read in
# api-evangelist/keap openapi/_original/keap-v1-openapi.json (commit d3ed7ed9); anything else
# answers 405 as Keap's would. Assumptions, where the document has no call the sandbox needs
# (tests/e2e/sandbox/test_sandbox_objects_as_keap.py names each): GET of one subscription and
# of one user, so that subscription.* and user.* events' apiUrl answers; lead sources, which
# have no v1 path, get the usual calls at /leadsources. Keap's document has no way to change
# or delete a subscription, tag, user or transaction through v1: those changes are made by
# `hookctl trigger` (the sandbox's admin path) only.
_COLLECTION_CALLS = ("GET", "POST")
_ONE_CALLS: dict[str, tuple[str, ...]] = {
    "appointments": ("GET", "PATCH", "PUT", "DELETE"),
    "companies": ("GET", "PATCH"),
    "contacts": ("GET", "PATCH", "DELETE"),
    "leadsources": ("GET", "PATCH", "PUT", "DELETE"),
    "notes": ("GET", "PATCH", "PUT", "DELETE"),
    "opportunities": ("GET", "PATCH"),
    "orders": ("GET", "DELETE"),
    "products": ("GET", "PATCH", "DELETE"),
    "subscriptions": ("GET",),
    "tags": ("GET",),
    "tasks": ("GET", "PATCH", "PUT", "DELETE"),
    "transactions": ("GET",),
    "users": ("GET",),
}
OBJECT_ROUTES: dict[str, tuple[str, ...]] = {
    **{
        f"/{c}": ("GET",) if c == "transactions" else _COLLECTION_CALLS
        for c in sorted(set(EVENT_COLLECTIONS.values()))
    },
    **{f"/{c}/{{id}}": calls for c, calls in _ONE_CALLS.items()},
}

# Keap's document answers most creates 201 but these 200; the collections it has no create for
# (transactions, lead sources) are assumed to answer 201 like the rest.
CREATE_STATUS: dict[str, int] = {"tasks": 200, "tags": 200, "opportunities": 200}


def event_noun(event_key: str) -> str:
    return event_key.rsplit(".", 1)[0]


def collection_of(event_key: str) -> str:
    """The v1 collection whose objects an event's ids name (`invoice.payment.add` ->
    transactions)."""
    return EVENT_COLLECTIONS[event_noun(event_key)]


# The dates Keap sets itself, under the names each object's schema gives them (Task and Order
# say creation_date/modification_date; Company, Product, Subscription, Tag, Appointment and
# EcommerceReportingTransaction declare none, so the sandbox adds none). Lead sources have no
# schema: they are assumed to be dated as contacts are.
_DATED = ("date_created", "last_updated")
DATE_FIELDS: dict[str, tuple[str, str]] = {
    "contacts": _DATED,
    "leadsources": _DATED,
    "notes": _DATED,
    "opportunities": _DATED,
    "users": _DATED,
    "orders": ("creation_date", "modification_date"),
    "tasks": ("creation_date", "modification_date"),
}


def as_keap_answers(collection: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """fields in the shape Keap answers with. Keap's create bodies differ from its answers for
    orders (CreateOrder: order_title, contact_id, order_items of product_id, shipping_address;
    Order: title, contact {id}, order_items with product {id}, shipping_information), users
    (CreateUser: email; RestUser: email_address), contacts (CreateContactOrigin has no date,
    ContactOrigin requires one) and tags (CreateTag's category is {id}, TagCategory requires a
    name too); fields already in the answer's shape pass unchanged."""
    result = copy.deepcopy(dict(fields))
    if collection == "users" and "email" in result:
        result.setdefault("email_address", result.pop("email"))
    origin = result.get("origin")
    if collection == "contacts" and isinstance(origin, dict) and "date" not in origin:
        origin["date"] = _now()
    category = result.get("category")
    if collection == "tags" and isinstance(category, dict) and "name" not in category:
        # Assumption: the sandbox keeps no tag categories, so it knows none's name.
        category["name"] = ""
    if collection != "orders":
        return result
    if "shipping_address" in result:
        result.setdefault("shipping_information", result.pop("shipping_address"))
    if "order_title" in result:
        result.setdefault("title", result.pop("order_title"))
    if "contact_id" in result:
        result.setdefault("contact", {"id": result.pop("contact_id")})
    items = result.get("order_items")
    if isinstance(items, list):
        result["order_items"] = [_order_item(item) for item in items]
    return result


def _order_item(item: Any) -> Any:
    """A CreateOrderItem as the OrderItem Keap answers with (price is a string in the request,
    a number in the answer)."""
    if not isinstance(item, dict) or "product_id" not in item:
        return item
    made = {k: v for k, v in item.items() if k not in ("product_id", "item_type", "price")}
    made["product"] = {"id": item["product_id"]}
    if "item_type" in item:
        made["type"] = item["item_type"]
    if "price" in item:
        try:
            made["price"] = float(item["price"])
        except (TypeError, ValueError):
            made["price"] = item["price"]
    return made


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ObjectLimit(Exception):
    """The sandbox holds MAX_OBJECTS objects already."""


class Objects:
    """Objects per collection, ids counting up from 101 per collection as Keap's first
    records in a fresh account do (an assumption: only their being integers matters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, dict[int, dict[str, Any]]] = {}
        self._next_id: dict[str, int] = {}
        self._count = 0

    def create(self, collection: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._count >= MAX_OBJECTS:
                raise ObjectLimit(f"the sandbox holds {MAX_OBJECTS} objects already")
            object_id = self._next_id.get(collection, 101)
            self._next_id[collection] = object_id + 1
            now = _now()
            record = {**as_keap_answers(collection, fields), "id": object_id}
            record.update(dict.fromkeys(DATE_FIELDS.get(collection, ()), now))
            self._objects.setdefault(collection, {})[object_id] = record
            self._count += 1
            return copy.deepcopy(record)

    def get(self, collection: str, object_id: int) -> dict[str, Any] | None:
        with self._lock:
            record = self._objects.get(collection, {}).get(object_id)
            return copy.deepcopy(record) if record is not None else None

    def list(self, collection: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(r) for r in self._objects.get(collection, {}).values()]

    def update(
        self, collection: str, object_id: int, fields: Mapping[str, Any], *, replace: bool = False
    ) -> dict[str, Any] | None:
        """PATCH merges the fields given; PUT (replace) keeps only them (and id, dates)."""
        with self._lock:
            record = self._objects.get(collection, {}).get(object_id)
            if record is None:
                return None
            dates = DATE_FIELDS.get(collection, ())
            kept = {k: record[k] for k in ("id", *dates[:1])}
            base = kept if replace else record
            record = {**base, **as_keap_answers(collection, fields), **kept}
            record.update(dict.fromkeys(dates[1:], _now()))
            self._objects[collection][object_id] = record
            return copy.deepcopy(record)

    def delete(self, collection: str, object_id: int) -> bool:
        with self._lock:
            gone = self._objects.get(collection, {}).pop(object_id, None) is not None
            self._count -= gone
            return gone
