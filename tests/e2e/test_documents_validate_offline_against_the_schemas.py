"""The JSON documents hookctl writes, made by real runs against a sandbox, validate against
schemas/ offline: the schemas refer to each other by relative references only, so validation
never reaches for the network; an event name the account does not know is judged by the account."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import NAMES, Cli, schema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from hookctl.formats import documents
from hookctl.sandbox import Sandbox


def _no_network(*args: object, **kwargs: object) -> socket.socket:
    raise AssertionError("the schemas reached for the network")


def _no_retrieval(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def test_documents_validate_with_no_network(
    config: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = cli.run("drift", "-f", str(config), "--format", "json", status=None)
    assert ran.status in (0, 2)
    drift = json.loads(ran.out)
    planned = json.loads(cli.run("plan", "-f", str(config), "--format", "json").out)
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
    schemas = [schema(name) for name in NAMES]
    empty: Registry[Any] = Registry(retrieve=_no_retrieval)  # type: ignore[call-arg]
    registry = empty.with_resources((each["$id"], Resource.from_contents(each)) for each in schemas)
    Draft202012Validator(schema("drift"), registry=registry).validate(drift)
    Draft202012Validator(schema("plan"), registry=registry).validate(planned)
    cli.run("validate", "-f", str(config), "--offline")


def test_an_unknown_event_is_judged_by_the_account(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - name: a\n    url: https://example.com/a\n"
        "    events: [contact.nope]\n"
    )
    result = cli.run("validate", "-f", str(path), status=1)
    assert "contact.nope" in result.err
