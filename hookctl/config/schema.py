"""Stage 4: the JSON Schema (schemas/hooks.schema.json, the single definition of the format)
checked on the interpolated data, and each of its errors put in words for a person.

jsonschema is imported on first use only: it costs ~100 ms, which `hookctl --version` must not
pay.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hookctl.config.issues import MAX_ISSUES, Issues, JSONPath, short
from hookctl.config.source import Doc
from hookctl.system.files import schema_text

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The hooks schema as written."""
    loaded: dict[str, Any] = json.loads(schema_text("hooks.schema.json"))
    return loaded


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    """The compiled validator, built once."""
    # Imported here: jsonschema costs ~100 ms to import, which `hookctl --version` must not pay.
    from jsonschema import Draft202012Validator

    written = schema()
    return Draft202012Validator(_inline_refs(written, written["$defs"]))


# Every file is first checked by a validator fastjsonschema generates from the schema (some
# 25 ms to build, then ~15x faster than jsonschema on a file: 1.3 ms of a file's 2 ms, a
# second at 1,000 accounts' files), and by jsonschema only when that one refuses, for the
# words: so a valid file never pays jsonschema's ~80 ms import either.
@lru_cache(maxsize=1)
def fast_validator() -> Callable[[Any], Any]:
    """The schema compiled to Python by fastjsonschema. Its draft-07 keywords mean what they
    mean in 2020-12 for every keyword this schema uses, and tests/unit/
    test_hooks_file_properties.py holds the two validators to the same verdicts."""
    import fastjsonschema

    written = schema()
    inlined = _inline_refs(written, written["$defs"])
    inlined = {key: value for key, value in inlined.items() if key != "$defs"}
    inlined["$schema"] = "http://json-schema.org/draft-07/schema#"
    compiled: Callable[[Any], Any] = fastjsonschema.compile(inlined)
    return compiled


def fast_valid(data: Any) -> bool:
    """Whether the generated validator accepts `data`; False on any doubt, so that jsonschema
    then decides."""
    try:
        fast_validator()(data)
    except Exception:  # a refusal (JsonSchemaException), or a value it cannot handle
        return False
    return True


def account_name_pattern() -> str:
    """The pattern an account's name must match."""
    pattern: str = schema()["properties"]["accounts"]["propertyNames"]["pattern"]
    return pattern


_ANNOTATIONS = frozenset({"description", "title", "$comment"})


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with each local reference "#/$defs/x" replaced by its target.

    The verdicts are the same (no target is recursive, and a $ref's siblings only add
    annotations to it), but jsonschema no longer resolves a reference for every hook entry,
    which was a third of its time on a large file.
    """
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _inline_refs(value, defs) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
        target = _inline_refs(defs[ref[8:]], defs)
        siblings = {key: value for key, value in out.items() if key != "$ref"}
        if set(siblings) & set(target) <= _ANNOTATIONS:
            return {**target, **siblings}
    return out


def check_schema(doc: Doc, issues: Issues) -> None:
    """Add what the schema refuses in `doc`, in words (see _describe)."""
    if fast_valid(doc.data):
        return
    found: dict[JSONPath, list[ValidationError]] = {}
    for error in validator().iter_errors(doc.data):
        if len(found) >= MAX_ISSUES:
            issues.truncated = True
            break
        found.setdefault(tuple(error.absolute_path), []).append(error)
    for path, errors in found.items():
        # A value of the wrong type says all there is to say about it.
        mistyped = [error for error in errors if error.validator == "type"]
        for error in mistyped or errors:
            if "propertyNames" in error.schema_path and isinstance(error.instance, str):
                # A refused name (of an account) is pointed at, but not repeated: it may be
                # a secret pasted in the wrong place.
                named = error.schema if isinstance(error.schema, dict) else {}
                message = named.get("patternErrorMessage") or "is not a valid name"
                issues.add(path, doc.mark((*path, error.instance), key=True), message)
                continue
            for where, at_key, message in _describe(error, path):
                issues.add(where, doc.mark(where, key=at_key), message)


def _describe(error: ValidationError, path: JSONPath) -> list[tuple[JSONPath, bool, str]]:
    """One jsonschema error as (where, at its key, message) triples, in words for a person.

    Messages never repeat the offending value wholesale: it may be a secret put in the wrong
    place.
    """
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance: Any = error.instance
    expected: Any = error.validator_value
    if keyword == "type":
        wanted = " or ".join(
            _JSON_TYPES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected)
        )
        return [(path, False, f"expected {wanted}, got {_kind(instance)}")]
    if keyword == "additionalProperties":
        known = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        out = []
        for key in instance:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else "expected one of: " + ", ".join(known)
            )
            out.append(((*path, key), True, f"unknown key {short(key)} ({hint})"))
        return out
    if keyword == "required":
        missing = [k for k in expected if k not in instance]
        listed = ", ".join(repr(k) for k in missing)
        return [(path, False, f"missing required key{'s' if len(missing) > 1 else ''} {listed}")]
    if keyword == "uniqueItems":
        index = _first_repeat(instance)
        where = (*path, index) if index is not None else path
        return [(where, False, "is listed more than once")]
    if len(error.schema_path) > 2 and error.schema_path[-3] == "patternProperties":
        # A key refused by its name (an inline secret): point at the key.
        return [(path, True, str(schema.get("errorMessage") or error.message))]
    message = schema.get("patternErrorMessage") if keyword == "pattern" else None
    message = message or schema.get("errorMessage")
    if not message:
        bounds = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than",
        }
        if keyword in bounds:
            message = f"must be {bounds[keyword]} {expected}"
        elif keyword == "minItems":
            message = f"must list at least {expected}"
        elif keyword == "maxLength":
            message = f"must be at most {expected} characters long"
        elif keyword == "minLength":
            message = "must not be empty"
        else:
            message = error.message
    return [(path, False, str(message))]


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true or false"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _first_repeat(items: list[Any]) -> int | None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        # JSON text identifies equal JSON values, hashable or not (True and 1 stay apart).
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            return index
        seen.add(key)
    return None
