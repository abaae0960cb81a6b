"""hookctl.receiver reads a delivery in either shape Keap sends, refuses what is not one, and
fetches the objects it names paced and bounded (on an injected clock)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from hookctl.receiver import (
    OBJECT_COLLECTIONS,
    DeliveryError,
    fetch_objects,
    object_url,
    parse_delivery,
)
from hookctl.sandbox.objects import EVENT_COLLECTIONS

DOCUMENTED = {
    "event_key": "contact.add",
    "object_type": "contact",
    "object_keys": [
        {
            "id": "101",
            "apiUrl": "https://api.infusionsoft.com/crm/rest/v1/contacts/101",
            "timestamp": "2026-12-04T10:55:37.123Z",
        }
    ],
}
# The body seen in the field (KEAP.md): apiUrl "", integer ids, seconds, a top-level api_url.
FIELD = {
    "event_key": "invoice.payment.add",
    "object_type": "invoice.payment",
    "object_keys": [{"id": 7, "apiUrl": "", "timestamp": "2018-03-29T10:55:37Z"}],
    "api_url": "",
}


def test_both_shapes_read_into_the_same_typed_values() -> None:
    documented = parse_delivery(json.dumps(DOCUMENTED).encode())
    field = parse_delivery(FIELD)
    assert documented.ids == ("101",) and field.ids == ("7",)
    assert documented.keys[0].api_url == DOCUMENTED["object_keys"][0]["apiUrl"]  # type: ignore[index]
    assert field.keys[0].api_url is None
    assert field.keys[0].timestamp == datetime(2018, 3, 29, 10, 55, 37, tzinfo=timezone.utc)
    assert documented.keys[0].timestamp is not None
    assert documented.keys[0].timestamp.microsecond == 123000


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"event_key": "contact.add"}',
        b'{"event_key": "x", "object_keys": [{"id": 1}]}',
        b'{"event_key": "contact.add", "object_keys": []}',
        b'{"event_key": "contact.add", "object_keys": [{"id": true}]}',
        b'{"event_key": "contact.add", "object_keys": [{"id": ""}]}',
        json.dumps({"event_key": "contact.add", "object_keys": [{"id": 1}] * 1001}).encode(),
    ],
)
def test_what_is_not_a_delivery_is_refused(body: bytes) -> None:
    with pytest.raises(DeliveryError):
        parse_delivery(body)


def test_an_empty_api_url_is_built_from_the_base_url_by_event_noun() -> None:
    field = parse_delivery(FIELD)
    base = "https://api.infusionsoft.com/crm/rest/v1"
    assert object_url(field, field.keys[0], base) == f"{base}/transactions/7"
    with pytest.raises(DeliveryError, match="base_url"):
        object_url(field, field.keys[0])


def test_fetches_are_paced_deduplicated_and_bounded() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    keys = [{"id": i % 3, "apiUrl": f"http://x.example/contacts/{i % 3}"} for i in range(6)]
    delivery = parse_delivery({"event_key": "contact.edit", "object_keys": keys})
    got = fetch_objects(
        delivery, lambda url: url, min_interval=0.5, sleep=sleep, clock=lambda: now[0]
    )
    assert got == [f"http://x.example/contacts/{i}" for i in range(3)]
    assert slept == [0.5, 0.5]
    with pytest.raises(DeliveryError, match="max_objects"):
        fetch_objects(delivery, lambda url: url, max_objects=2, sleep=sleep)


def test_the_receiver_and_the_sandbox_agree_where_each_event_nouns_objects_live() -> None:
    assert OBJECT_COLLECTIONS == EVENT_COLLECTIONS
