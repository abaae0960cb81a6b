"""The built-in fixtures of `hookctl trigger` and its --set overrides: every event type has a
fixture, overrides reach nested fields and aliases, and what cannot apply is refused with a
message naming the override."""

from __future__ import annotations

import pytest

from hookctl.domain.fixtures import (
    OverrideError,
    apply_overrides,
    fixture,
    parse_override,
)
from hookctl.domain.models import KNOWN_EVENT_KEYS


@pytest.mark.parametrize("event_key", KNOWN_EVENT_KEYS)
def test_every_event_type_has_a_fixture(event_key: str) -> None:
    assert fixture(event_key)


def test_text_and_json_overrides_reach_nested_fields_and_aliases() -> None:
    overrides = [
        parse_override("email=ada@example.com"),
        parse_override("phone_numbers.1.number=555-0199"),
        parse_override('custom_fields:=[{"id": 1, "content": "x"}]'),
        parse_override("note=a=b"),
    ]
    fields = apply_overrides("contact.add", fixture("contact.add"), overrides)
    assert fields["email_addresses"][0]["email"] == "ada@example.com"
    assert fields["phone_numbers"][1] == {"number": "555-0199"}
    assert fields["custom_fields"] == [{"id": 1, "content": "x"}]
    assert fields["note"] == "a=b"
    # The built-in fixture itself is never changed.
    assert fixture("contact.add")["phone_numbers"] == [{"number": "555-0100", "field": "PHONE1"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("novalue", "FIELD=VALUE"),
        ("=x", "FIELD=VALUE"),
        ("n:=not json", "not JSON"),
        ("email_addresses.5.email=x", "does not fit"),
        ("given_name.first=x", "does not fit"),
        ("a..b=x", "not a usable field path"),
    ],
)
def test_an_override_that_cannot_apply_is_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(OverrideError, match=message):
        apply_overrides("contact.add", fixture("contact.add"), [parse_override(text)])
