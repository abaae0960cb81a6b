"""A fixture file for `hookctl trigger --fixture FILE` (schemas/fixture.schema.json): read
bounded, parsed as YAML (so JSON too) with line marks, checked against its schema; every
problem is one line naming the file, the line and the field."""

from __future__ import annotations

import json
import os
from typing import Any

from jsonschema import Draft202012Validator

from hookctl.config.issues import Issues
from hookctl.config.source import read_file, to_doc
from hookctl.system.files import schema_text


def read_fixture(path: str | os.PathLike[str], event_key: str) -> list[dict[str, Any]]:
    """The objects' fields the file declares for event_key, or ConfigError."""
    name = os.fspath(path)
    issues = Issues(name)
    # to_doc refuses more than the bound, undecodable text and YAML errors, with their lines.
    _, doc = to_doc(read_file(name), issues)
    validator = Draft202012Validator(json.loads(schema_text("fixture.schema.json")))
    for error in sorted(validator.iter_errors(doc.data), key=lambda e: list(e.absolute_path)):
        where = tuple(error.absolute_path)
        message = error.message
        if error.validator == "oneOf" and isinstance(doc.data, dict):
            message = "give either `fields` (one object) or `objects` (a list), not both"
        issues.add(where, doc.mark(where), message[:200])
    if issues:
        raise issues.error()
    data: dict[str, Any] = doc.data
    declared = data.get("event")
    if declared is not None and declared.rsplit(".", 1)[0] != event_key.rsplit(".", 1)[0]:
        issues.add(("event",), doc.mark(("event",)), f"is for {declared}, not {event_key}")
        raise issues.error()
    objects: list[dict[str, Any]] = data["objects"] if "objects" in data else [data["fields"]]
    return objects
