"""The JSON Schemas as editors and validators meet them (issue 17 item 5): each has a relative
$id and refers to the others by relative references only, so validation never reaches for the
network; hooks.schema.json suggests Keap's known event names while still allowing wildcards
and names Keap adds; `hookctl schema NAME` prints one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import NAMES, Cli, schema
from jsonschema import Draft202012Validator

from hookctl.domain.models import KNOWN_EVENT_KEYS

ROOT = Path(__file__).resolve().parents[2]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_has_a_relative_id_and_no_remote_reference(name: str) -> None:
    found = schema(name)
    assert found["$id"] == f"{name}.schema.json"
    remote = [ref for ref in refs(found) if "://" in ref]
    assert remote == []


@pytest.mark.parametrize("name", NAMES)
def test_hookctl_schema_prints_one(name: str, cli: Cli) -> None:
    result = cli.run("schema", name)
    assert result.out == (ROOT / "schemas" / f"{name}.schema.json").read_text()


def test_hookctl_schema_prints_the_hooks_schema_by_default(
    cli: Cli,
) -> None:
    result = cli.run("schema")
    assert json.loads(result.out)["$id"] == "hooks.schema.json"


def test_hooks_schema_suggests_the_known_event_names() -> None:
    items = schema("hooks")["$defs"]["hook"]["properties"]["events"]["items"]
    suggested = [branch["enum"] for branch in items["anyOf"] if "enum" in branch]
    assert suggested == [list(KNOWN_EVENT_KEYS)]


def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema("hooks"))


def test_wildcards_and_unknown_names_stay_valid(tmp_path: Path) -> None:
    document = {
        "version": 1,
        "hooks": [
            {
                "name": "all",
                "url": "https://example.com/h",
                "events": ["contact.add", "order.*", "**.delete", "brand.new_event"],
            }
        ],
    }
    assert list(_validator().iter_errors(document)) == []


def test_a_bad_event_name_keeps_its_message(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - name: a\n    url: https://example.com/a\n"
        "    events: [contact add]\n"
    )
    result = cli.run("validate", "-f", str(path), "--offline", status=1)
    err = result.err
    assert "must be an event type such as contact.add, or a wildcard" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
