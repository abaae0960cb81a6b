"""The JSON Schemas as editors and validators meet them (issue 17 item 5): each has a relative
$id and refers to the others by relative references only, so validation never reaches for the
network; hooks.schema.json suggests Keap's known event names while still allowing wildcards
and names Keap adds; `hookctl schema NAME` prints one."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from hookctl.cli.commands import main
from hookctl.domain.models import KNOWN_EVENT_KEYS
from hookctl.formats import documents
from hookctl.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("hooks", "plan", "drift", "accounts", "report", "fixture")


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    return loaded


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
    schema = load(name)
    assert schema["$id"] == f"{name}.schema.json"
    remote = [ref for ref in refs(schema) if "://" in ref]
    assert remote == []


@pytest.mark.parametrize("name", NAMES)
def test_hookctl_schema_prints_one(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", name]) == 0
    assert capsys.readouterr().out == (ROOT / "schemas" / f"{name}.schema.json").read_text()


def test_hookctl_schema_prints_the_hooks_schema_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["$id"] == "hooks.schema.json"


def _no_network(*args: object, **kwargs: object) -> socket.socket:
    raise AssertionError("the schemas reached for the network")


def _no_retrieval(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def test_documents_validate_with_no_network(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    capsys.readouterr()
    assert main(["drift", "-f", str(config), "--format", "json"]) in (0, 2)
    drift = json.loads(capsys.readouterr().out)
    assert main(["plan", "-f", str(config), "--format", "json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert drift["changes"], "the drift report must hold changes for its $refs to be used"

    monkeypatch.setattr(socket, "socket", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    documents.validator.cache_clear()
    try:
        documents.check(drift, "drift.schema.json")
        documents.check(planned, "plan.schema.json")
    finally:
        documents.validator.cache_clear()
    # A validator that only knows the files, by their own $id, and may fetch nothing.
    schemas = [load(name) for name in NAMES]
    empty: Registry[Any] = Registry(retrieve=_no_retrieval)  # type: ignore[call-arg]
    registry = empty.with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas
    )
    Draft202012Validator(load("drift"), registry=registry).validate(drift)
    Draft202012Validator(load("plan"), registry=registry).validate(planned)
    assert main(["validate", "-f", str(config), "--offline"]) == 0


def test_hooks_schema_suggests_the_known_event_names() -> None:
    items = load("hooks")["$defs"]["hook"]["properties"]["events"]["items"]
    suggested = [branch["enum"] for branch in items["anyOf"] if "enum" in branch]
    assert suggested == [list(KNOWN_EVENT_KEYS)]


def _validator() -> Draft202012Validator:
    return Draft202012Validator(load("hooks"))


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


def test_a_bad_event_name_keeps_its_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - name: a\n    url: https://example.com/a\n"
        "    events: [contact add]\n"
    )
    assert main(["validate", "-f", str(path), "--offline"]) == 1
    err = capsys.readouterr().err
    assert "must be an event type such as contact.add, or a wildcard" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unknown_event_is_judged_by_the_account(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - name: a\n    url: https://example.com/a\n"
        "    events: [contact.nope]\n"
    )
    assert main(["validate", "-f", str(path)]) == 1
    assert "contact.nope" in capsys.readouterr().err
