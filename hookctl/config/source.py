"""Stages 1 and 2: a hooks file's bytes, turned into plain data with the mark of every value.

1. bytes: at most MAX_FILE_BYTES, UTF-8 (a BOM is accepted), no control characters, not empty.
2. YAML events (libyaml when available) are built into plain JSON-like data by hand, recording
   the line and column of every key and value. Building from events rather than through PyYAML's
   constructor is what makes duplicate keys detectable, keeps marks exact, refuses anchors and
   aliases before anything could be expanded, and is several times faster than ``yaml.load``.
"""

from __future__ import annotations

import codecs
import math
import os
import re
from dataclasses import dataclass
from typing import Any

import yaml

from hookctl.config.issues import Issues, JSONPath, Mark, format_path, short
from hookctl.errors import ConfigError, ConfigIssue
from hookctl.system.files import NotAFile, read_bounded

# A hooks file of 10,000 entries is about 1.5 MiB; anything near this bound is a mistake or
# an attack, and refusing it keeps memory and time bounded.
MAX_FILE_BYTES = 10 * 1024 * 1024

# A hooks file is four levels deep and 10,000 entries are about 70,000 values. These bounds
# keep time and memory small for hostile input and spare every later stage (jsonschema
# included) from recursing deeply.
MAX_DEPTH = 20
MAX_NODES = 500_000

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
# Implicit YAML 1.1 types that a JSON-shaped format has no use for are read as the text written.
_AS_TEXT = frozenset(
    {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"}
)
_COLLECTION_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_KEY_TAGS = frozenset({None, "!", _STR})
_IMPLICIT_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = yaml.constructor.SafeConstructor()

# What PyYAML's reader refuses, checked up front so the message can carry a line and column.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass
class Doc:
    """A YAML document built into plain data, with where each of its values is written."""

    data: Any
    marks: dict[JSONPath, Mark]  # where each value starts
    key_marks: dict[JSONPath, Mark]  # where the key of each mapping value starts

    def mark(self, path: JSONPath, *, key: bool = False) -> Mark | None:
        """Where `path` is written (its key when `key`), else where its nearest ancestor is."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        while True:
            mark = self.marks.get(path)
            if mark is not None or not path:
                return mark
            path = path[:-1]

    def where(self, path: JSONPath) -> str:
        """`path` for a message, with its line when known."""
        mark = self.mark(path)
        return format_path(path) + (f" (line {mark[0]})" if mark else "")


def read_file(path: str | os.PathLike[str]) -> bytes:
    """A hooks file's bytes, at most one past the bound; ConfigError when it cannot be read or
    is not a regular file."""
    name = os.fspath(path)

    def refuse(reason: str) -> ConfigError:
        return ConfigError([ConfigIssue(name, None, None, "", reason)])

    try:
        return read_bounded(name, MAX_FILE_BYTES)
    except NotAFile as exc:
        raise refuse(exc.reason) from None
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror or type(exc).__name__}") from None


def to_doc(document: str | bytes, issues: Issues) -> tuple[bytes, Doc]:
    """The raw bytes and the built YAML document, or ConfigError."""
    raw, text = _decode(document, issues)
    doc = _compose(text, issues) if text is not None else None
    if doc is None:
        raise issues.error()
    return raw, doc


def _decode(document: str | bytes, issues: Issues) -> tuple[bytes, str | None]:
    if isinstance(document, str):
        try:
            raw = document.encode("utf-8")
        except UnicodeEncodeError:
            issues.add((), None, "is not valid UTF-8 text")
            return b"", None
    else:
        raw = bytes(document)
    if len(raw) > MAX_FILE_BYTES:
        issues.add((), None, f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        return raw, None
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        # Everything before the first bad byte decodes, so the column can count characters.
        column = len(body[body.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode()) + 1
        issues.add((), (line, column), f"is not UTF-8 (invalid byte 0x{body[exc.start]:02x})")
        return raw, None
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        issues.add((), (line, column), f"contains the control character U+{ord(bad.group()):04X}")
        return raw, None
    return raw, text


def _parser() -> type[yaml.SafeLoader] | type[yaml.CSafeLoader]:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Frame:
    """An open mapping or sequence while building from events."""

    __slots__ = ("container", "is_list", "keep", "key", "path")

    def __init__(self, container: dict[str, Any] | list[Any], path: JSONPath, keep: bool) -> None:
        self.container = container
        self.is_list = isinstance(container, list)
        self.path = path
        self.keep = keep  # False inside a value that is being discarded (duplicate or bad key)
        self.key: str | None = None  # a mapping's pending key; None while a key is expected


_DISCARD = "\0discard"  # pending key of a value that is dropped; cannot occur in a YAML key

# Events are told apart by their exact class: both of PyYAML's parsers make these classes and
# no subclass, and a fleet's files are a few hundred thousand events, where a chain of
# isinstance checks per event was most of the cost of reading.
_SCALAR = yaml.ScalarEvent
_ALIAS = yaml.AliasEvent
_MAPPING_START = yaml.MappingStartEvent
_SEQUENCE_START = yaml.SequenceStartEvent
_ENDS = frozenset({yaml.MappingEndEvent, yaml.SequenceEndEvent})
_NODES = frozenset({_SCALAR, _ALIAS, _MAPPING_START, _SEQUENCE_START})


def _compose(text: str, issues: Issues) -> Doc | None:
    """Build plain data from YAML events with the mark of every key and value.

    Returns None (with an issue recorded) when there is no usable document.
    """
    marks: dict[JSONPath, Mark] = {}
    key_marks: dict[JSONPath, Mark] = {}
    stack: list[_Frame] = []
    root: Any = None
    documents = 0
    nodes = 0
    aliases = 0

    parser = _parser()(text)
    get_event = parser.get_event
    try:
        while True:
            event: Any = get_event()
            kind = type(event)
            if kind in _ENDS:
                stack.pop()
                continue
            if kind not in _NODES:
                if kind is yaml.StreamEndEvent:
                    break
                if kind is yaml.DocumentStartEvent:
                    documents += 1
                    if documents > 1:
                        issues.add((), _event_mark(event), "holds more than one YAML document")
                        return None
                continue
            start = event.start_mark
            mark = (start.line + 1, start.column + 1) if start else (1, 1)
            nodes += 1
            if nodes > MAX_NODES or len(stack) >= MAX_DEPTH:
                too_much = (
                    f"more than {MAX_NODES:,} values"
                    if nodes > MAX_NODES
                    else f"nesting deeper than {MAX_DEPTH} levels"
                )
                issues.add((), mark, f"has {too_much}: this is not a hooks file")
                return None
            top = stack[-1] if stack else None

            # Where the node goes.
            path: JSONPath = ()
            keep = True
            key = ""
            if top is None:
                pass
            elif top.is_list:
                path, keep = (*top.path, len(top.container)), top.keep
            elif top.key is None:  # the node is a mapping key
                if kind is _SCALAR and event.tag in _KEY_TAGS:
                    _add_key(top, event.value, mark, key_marks, issues)
                    continue
                issues.add(top.path, mark, "mapping keys must be plain strings")
                top.key = _DISCARD
                if kind is _SCALAR or kind is _ALIAS:
                    continue
                path, keep = top.path, False
            else:
                key, top.key = top.key, None
                path, keep = (*top.path, key), top.keep and key != _DISCARD
            where = path if keep else top.path if top else ()

            # What the node is.
            value: Any = None
            if kind is _ALIAS:
                why = (
                    ""
                    if aliases
                    else ": a hooks file has no need for them, and refusing them rules out "
                    "alias expansion bombs"
                )
                aliases += 1
                issues.add(where, mark, f"YAML aliases (*name) are not allowed{why}")
            else:
                if event.anchor is not None:
                    issues.add(where, mark, "YAML anchors (&name) are not allowed")
                if kind is _SCALAR:
                    value, problem = _scalar(event)
                    if problem:
                        issues.add(where, mark, problem)
                else:
                    if event.tag not in _COLLECTION_TAGS:
                        issues.add(where, mark, f"the YAML tag {short(event.tag)} is not supported")
                    value = {} if kind is _MAPPING_START else []

            if top is None:
                root = value
                marks[()] = mark
            elif keep:
                if isinstance(top.container, list):
                    top.container.append(value)
                else:
                    top.container[key] = value
                marks[path] = mark
            if kind is _MAPPING_START or kind is _SEQUENCE_START:
                stack.append(_Frame(value, path, keep))
    except yaml.MarkedYAMLError as exc:
        at = exc.problem_mark or exc.context_mark
        problem = exc.problem or "syntax error"
        context = f" ({exc.context})" if exc.context else ""
        if "alias" in context:  # `[*.delete]`: YAML reads the * as an alias
            context += ': quote a wildcard that starts with *, as in "*.delete"'
        issues.add(
            (), (at.line + 1, at.column + 1) if at else None, f"invalid YAML: {problem}{context}"
        )
        return None
    except yaml.YAMLError as exc:
        issues.add((), None, f"invalid YAML: {exc}")
        return None
    finally:
        parser.dispose()

    if root is None:
        issues.add((), None, "is empty: expected a mapping with version and hooks")
        return None
    return Doc(root, marks, key_marks)


def _add_key(
    frame: _Frame, key: str, mark: Mark, key_marks: dict[JSONPath, Mark], issues: Issues
) -> None:
    """Take a scalar as the pending key of a mapping, refusing a repeated one."""
    path = (*frame.path, key)
    if key in frame.container:
        first = key_marks.get(path)
        if frame.keep:
            at = f" (first at line {first[0]})" if first else ""
            # The first value stays and is checked on its own merits.
            issues.add(path, mark, f"duplicate key {short(key)}{at}", silence=False)
        frame.key = _DISCARD
        return
    frame.key = key
    if frame.keep:
        key_marks[path] = mark


def _event_mark(event: yaml.Event) -> Mark:
    start = event.start_mark
    return (start.line + 1, start.column + 1) if start else (1, 1)


def _scalar(event: yaml.ScalarEvent) -> tuple[Any, str | None]:
    """The JSON value of a scalar event, or a problem."""
    value: str = event.value
    tag = event.tag
    if tag is None and event.implicit[0]:  # plain scalar: resolve as PyYAML's SafeLoader does
        tag = _STR
        for candidate, regexp in _IMPLICIT_RESOLVERS.get(value[:1] if value else "", ()):
            if regexp.match(value):
                tag = candidate
                break
        if tag in _AS_TEXT:
            return value, None
    if tag is None or tag in ("!", _STR):
        return value, None
    if tag == _NULL:
        return None, None
    if tag == _BOOL:
        boolean = _CONSTRUCTOR.bool_values.get(value.lower())
        return (
            (boolean, None) if boolean is not None else (None, f"{short(value)} is not a boolean")
        )
    if tag in (_INT, _FLOAT):
        node = yaml.ScalarNode(tag, value)
        try:
            number = (
                _CONSTRUCTOR.construct_yaml_int(node)
                if tag == _INT
                else _CONSTRUCTOR.construct_yaml_float(node)
            )
        except (ValueError, ArithmeticError, IndexError):
            # IndexError: PyYAML's constructors index the text, and `!!int ""` has none.
            return None, f"{short(value)} is not a usable number"
        if isinstance(number, float) and not math.isfinite(number):
            return None, "must be a finite number"
        return number, None
    return None, f"the YAML tag {short(tag)} is not supported"
