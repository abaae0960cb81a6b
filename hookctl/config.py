"""hooks.yaml: read it, check it as strictly as a compiler, and turn it into a DesiredState.

The pipeline, each stage reporting every problem it finds before the next one runs:

1. bytes: at most MAX_FILE_BYTES, UTF-8 (a BOM is accepted), no control characters, not empty.
2. YAML events (libyaml when available) are built into plain JSON-like data by hand, recording
   the line and column of every key and value. Building from events rather than through PyYAML's
   constructor is what makes duplicate keys detectable, keeps marks exact, refuses anchors and
   aliases before anything could be expanded, and is several times faster than ``yaml.load``.
3. ``${VAR}`` / ``${VAR:-default}`` interpolation of every string value (never keys).
4. the JSON Schema (schemas/hooks.schema.json, the single definition of the format), on the
   interpolated data, so the verdict is about what will actually be used.
5. what a schema cannot say: accounts, urls, duplicate names, ownership conflicts; then, for
   each account (Document.desired), event types, wildcards and duplicate pairs, since each
   account has event types of its own.

A path flagged by one stage is not reported again by a later one, so one mistake gives one
message. Nothing is printed; warnings go to the ``hookctl.config`` logger as ``file:line:col``.
"""

from __future__ import annotations

import codecs
import difflib
import fnmatch
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import yaml

from hookctl.errors import ConfigError, ConfigIssue
from hookctl.models import (
    KNOWN_EVENT_KEYS,
    Account,
    DesiredState,
    Ownership,
    Safety,
    Subscription,
    event_glob_matches,
    is_event_glob,
    schema_text,
)
from hookctl.urls import host as url_host
from hookctl.urls import is_loopback

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

__all__ = [
    "MAX_FILE_BYTES",
    "Document",
    "EventTypes",
    "load",
    "parse",
    "parse_document",
    "read",
]

logger = logging.getLogger(__name__)

# A hooks file of 10,000 entries is about 1.5 MiB; anything near this bound is a mistake or
# an attack, and refusing it keeps memory and time bounded.
MAX_FILE_BYTES = 10 * 1024 * 1024

# Past this many problems the rest are not described: a hostile file must not make the loader
# spend minutes on messages nobody reads.
MAX_ISSUES = 200

# A hooks file is four levels deep and 10,000 entries are about 70,000 values. These bounds
# keep time and memory small for hostile input and spare every later stage (jsonschema
# included) from recursing deeply.
MAX_DEPTH = 20
MAX_NODES = 500_000

# The account's event types: a collection, or a zero-argument callable that load() invokes at
# most once and only when the file needs more than the built-in list (see parse()), or None
# for the built-in list (`--offline`).
EventTypes = Collection[str] | Callable[[], Collection[str]] | None

JSONPath = tuple[str | int, ...]
Mark = tuple[int, int]

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
_VARIABLE = re.compile(r"\$(?:(\$)|\{([^}]*)\}|(\{))")
_VARIABLE_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\Z", re.DOTALL)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_BUILTIN = frozenset(KNOWN_EVENT_KEYS)

_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def load(
    path: str | os.PathLike[str],
    event_types: EventTypes = None,
    env: Mapping[str, str] | None = None,
    account: str | None = None,
) -> DesiredState:
    """Read and check a hooks file; raise ConfigError listing every problem found.

    `account` names one of the file's `accounts:`; it may be left out when there is only one.
    """
    return parse(_read(path), os.fspath(path), event_types, env, account)


def parse(
    document: str | bytes,
    source: str = "hooks.yaml",
    event_types: EventTypes = None,
    env: Mapping[str, str] | None = None,
    account: str | None = None,
) -> DesiredState:
    """Check a hooks document given as text or bytes; `source` names it in messages.

    Event types: None checks events against models.KNOWN_EVENT_KEYS. A collection is taken as
    the account's event types and checks every event. A callable is invoked (once) only when the
    built-in list cannot settle it, that is when the file has a wildcard or an event type the
    built-in list does not know; then the account's list decides every event. This lets a
    planner spend a `GET /hooks/event_keys` only when it changes the outcome.
    """
    issues = _Issues(source)
    checked = _check_document(document, source, env, issues)
    if issues:
        checked.check_events(issues, event_types, account)
        raise issues.error()
    return checked.document().desired(account, event_types)


def read(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Document:
    """Read a hooks file and run every check that needs no account (see Document)."""
    return parse_document(_read(path), os.fspath(path), env)


def parse_document(
    document: str | bytes, source: str = "hooks.yaml", env: Mapping[str, str] | None = None
) -> Document:
    """Check a hooks document up to its event types; raise ConfigError listing every problem.

    When there are problems, the events are checked too, against the built-in list, so that one
    run shows every mistake. An event type that only the account offers is then reported as
    well; a file without other problems has its events checked by Document.desired(), against
    the account's own event types.
    """
    issues = _Issues(source)
    checked = _check_document(document, source, env, issues)
    if issues:
        checked.check_events(issues)
        raise issues.error()
    return checked.document()


@dataclass
class _Checked:
    """A document through every stage but the events, with what those stages found."""

    source: str
    raw: bytes
    doc: _Doc
    urls: dict[int, str]
    targets: dict[int, frozenset[str]]

    def check_events(
        self, issues: _Issues, event_types: EventTypes = None, account: str | None = None
    ) -> None:
        """Add what the events reveal to the problems the other stages found, for each
        account (or `account`), as far as a document with problems says which entries are
        meant for which account. A line that several accounts give is kept once."""
        data = _mapping(self.doc.data)
        names: list[str | None] = [account] if account else [*_mapping(data.get("accounts"))]
        for name in names or [None]:
            hooks = [
                (index, hook)
                for index, hook in enumerate(_sequence(data.get("hooks")))
                if isinstance(hook, dict)
                and (name is None or index not in self.targets or name in self.targets[index])
            ]
            _check_events(self.doc, hooks, self.urls, event_types, issues)

    def document(self) -> Document:
        """The Document, once the stages found no problem."""
        data = self.doc.data
        multi = "accounts" in data
        sections = data["accounts"] if multi else {"default": data.get("account", {})}
        return Document(
            source=self.source,
            digest=hashlib.sha256(self.raw).hexdigest(),
            accounts=tuple(_account(name, settings) for name, settings in sections.items()),
            declares_accounts=multi,
            _doc=self.doc,
            _urls=self.urls,
            _targets=self.targets,
        )


def _check_document(
    document: str | bytes, source: str, env: Mapping[str, str] | None, issues: _Issues
) -> _Checked:
    """Stages 1 to 5 but the events. Problems go to `issues`; raises only when there is no
    YAML document to go on with."""
    raw, doc = _document(document, issues)
    _interpolate_all(doc, os.environ if env is None else env, issues)
    issues.seal()
    _check_schema(doc, issues)
    issues.seal()
    urls, targets = _check_semantics(doc, issues)
    issues.emit_warnings()
    return _Checked(source, raw, doc, urls, targets)


@dataclass(frozen=True, eq=False)
class Document:
    """A hooks file that passed every check an account's event types cannot change.

    What is left, events against the account's event types and wildcard expansion, is done per
    account by desired(): accounts may differ in the event types they offer, and each account's
    event types come from its own client, fetched in that account's own thread.
    """

    source: str
    digest: str  # sha256 of the file's bytes: a saved plan is stale when it changes
    accounts: tuple[Account, ...]  # in file order; one named "default" without `accounts:`
    declares_accounts: bool  # `accounts:` (named accounts) rather than `account:`
    _doc: _Doc = field(repr=False)
    _urls: dict[int, str] = field(repr=False)  # hook index -> its checked url
    _targets: dict[int, frozenset[str]] = field(repr=False)  # hook index -> `accounts:` of it

    @property
    def account_names(self) -> tuple[str, ...]:
        return tuple(account.name for account in self.accounts)

    def account(self, name: str | None = None) -> Account:
        """The account `name`, or the only one; ConfigError when there is no such account."""
        if name is None and len(self.accounts) == 1:
            return self.accounts[0]
        for account in self.accounts:
            if account.name == name:
                return account
        declared = ", ".join(self.account_names)
        problem = (
            f"declares several accounts ({declared}): name one"
            if name is None
            else f"has no account {_short(name)} (declared: {declared})"
        )
        line, column = _mark(self._doc, ("accounts",), key=True) or (None, None)
        raise ConfigError([ConfigIssue(self.source, line, column, "accounts", problem)])

    def desired(self, account: str | None = None, event_types: EventTypes = None) -> DesiredState:
        """The desired state of one account: the hooks meant for it, events checked against
        `event_types` (see parse()) and wildcards expanded. ConfigError when an event is not
        one of the account's."""
        chosen = self.account(account)
        issues = _Issues(self.source)
        data = self._doc.data
        hooks = [
            (index, hook)
            for index, hook in enumerate(data["hooks"])
            if index not in self._targets or chosen.name in self._targets[index]
        ]
        subscriptions = _check_events(self._doc, hooks, self._urls, event_types, issues)
        if issues:
            raise issues.error()
        return _desired_state(data, chosen, subscriptions, self.source, self.digest)


# --- issues -----------------------------------------------------------------------------------


@dataclass
class _Doc:
    data: Any
    marks: dict[JSONPath, Mark]  # where each value starts
    key_marks: dict[JSONPath, Mark]  # where the key of each mapping value starts


class _Issues:
    """Collects problems (and warnings) with their source positions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []
        self.truncated = False
        self._stage: set[JSONPath] = set()
        self._sealed: set[JSONPath] = set()

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ISSUES

    def flagged(self, path: JSONPath) -> bool:
        return path in self._sealed

    def add(self, path: JSONPath, mark: Mark | None, message: str, *, silence: bool = True) -> None:
        """Record a problem; with `silence`, later stages say nothing more about `path`."""
        if path in self._sealed:
            return
        if silence:
            self._stage.add(path)
        if self.full:
            self.truncated = True
            return
        line, column = mark if mark else (None, None)
        issue = ConfigIssue(self.source, line, column, _format_path(path), message)
        if issue not in self.items:
            self.items.append(issue)

    def warn(self, path: JSONPath, mark: Mark | None, message: str) -> None:
        line, column = mark if mark else (None, None)
        self.warnings.append(ConfigIssue(self.source, line, column, _format_path(path), message))

    def seal(self) -> None:
        """End a stage: later stages stay silent about the paths it flagged."""
        self._sealed |= self._stage
        self._stage = set()

    def emit_warnings(self) -> None:
        for warning in self.warnings:
            logger.warning("%s", warning)

    def error(self) -> ConfigError:
        ordered = sorted(self.items, key=lambda i: (i.line or 0, i.column or 0))
        if self.truncated:
            ordered.append(
                ConfigIssue(
                    self.source, None, None, "", f"only the first {MAX_ISSUES} problems are shown"
                )
            )
        return ConfigError(ordered)


def _format_path(path: JSONPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{_short(part)}]"
    return out


def _short(value: object, limit: int = 60) -> str:
    """repr() for messages, bounded so that hostile input cannot make them huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _mark(doc: _Doc, path: JSONPath, *, key: bool = False) -> Mark | None:
    """Where `path` is written (its key when `key`), else where its nearest ancestor is."""
    if key and path in doc.key_marks:
        return doc.key_marks[path]
    while True:
        mark = doc.marks.get(path)
        if mark is not None or not path:
            return mark
        path = path[:-1]


# --- stage 1 and 2: bytes and YAML ------------------------------------------------------------


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as file:
            # One byte past the bound is enough to know the file is too large.
            return file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        issue = ConfigIssue(os.fspath(path), None, None, "", f"cannot read: {reason}")
        raise ConfigError([issue]) from None


def _document(document: str | bytes, issues: _Issues) -> tuple[bytes, _Doc]:
    """The raw bytes and the built YAML document, or ConfigError."""
    raw, text = _decode(document, issues)
    doc = _compose(text, issues) if text is not None else None
    if doc is None:
        raise issues.error()
    return raw, doc


def _decode(document: str | bytes, issues: _Issues) -> tuple[bytes, str | None]:
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

    __slots__ = ("container", "keep", "key", "path")

    def __init__(self, container: dict[str, Any] | list[Any], path: JSONPath, keep: bool) -> None:
        self.container = container
        self.path = path
        self.keep = keep  # False inside a value that is being discarded (duplicate or bad key)
        self.key: str | None = None  # a mapping's pending key; None while a key is expected


_DISCARD = "\0discard"  # pending key of a value that is dropped; cannot occur in a YAML key


def _compose(text: str, issues: _Issues) -> _Doc | None:
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
    try:
        while not isinstance(event := parser.get_event(), yaml.StreamEndEvent):
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
                continue
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    issues.add((), _event_mark(event), "holds more than one YAML document")
                    return None
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            mark = _event_mark(event)
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
            elif isinstance(top.container, list):
                path, keep = (*top.path, len(top.container)), top.keep
            elif top.key is None:  # the node is a mapping key
                if isinstance(event, yaml.ScalarEvent) and event.tag in _KEY_TAGS:
                    _add_key(top, event.value, mark, key_marks, issues)
                    continue
                issues.add(top.path, mark, "mapping keys must be plain strings")
                top.key = _DISCARD
                if not isinstance(event, yaml.CollectionStartEvent):
                    continue
                path, keep = top.path, False
            else:
                key, top.key = top.key, None
                path, keep = (*top.path, key), top.keep and key != _DISCARD
            where = path if keep else top.path if top else ()

            # What the node is.
            value: Any = None
            if isinstance(event, yaml.AliasEvent):
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
                if isinstance(event, yaml.ScalarEvent):
                    value, problem = _scalar(event)
                    if problem:
                        issues.add(where, mark, problem)
                elif isinstance(event, yaml.CollectionStartEvent):
                    if event.tag not in _COLLECTION_TAGS:
                        issues.add(
                            where, mark, f"the YAML tag {_short(event.tag)} is not supported"
                        )
                    value = {} if isinstance(event, yaml.MappingStartEvent) else []

            if top is None:
                root = value
                marks[()] = mark
            elif keep:
                if isinstance(top.container, list):
                    top.container.append(value)
                else:
                    top.container[key] = value
                marks[path] = mark
            if isinstance(value, (dict, list)):
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
    return _Doc(root, marks, key_marks)


def _add_key(
    frame: _Frame, key: str, mark: Mark, key_marks: dict[JSONPath, Mark], issues: _Issues
) -> None:
    """Take a scalar as the pending key of a mapping, refusing a repeated one."""
    path = (*frame.path, key)
    if key in frame.container:
        first = key_marks.get(path)
        if frame.keep:
            at = f" (first at line {first[0]})" if first else ""
            # The first value stays and is checked on its own merits.
            issues.add(path, mark, f"duplicate key {_short(key)}{at}", silence=False)
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
            (boolean, None) if boolean is not None else (None, f"{_short(value)} is not a boolean")
        )
    if tag in (_INT, _FLOAT):
        node = yaml.ScalarNode(tag, value)
        try:
            number = (
                _CONSTRUCTOR.construct_yaml_int(node)
                if tag == _INT
                else _CONSTRUCTOR.construct_yaml_float(node)
            )
        except (ValueError, ArithmeticError):
            return None, f"{_short(value)} is not a usable number"
        if isinstance(number, float) and not math.isfinite(number):
            return None, "must be a finite number"
        return number, None
    return None, f"the YAML tag {_short(tag)} is not supported"


# --- stage 3: interpolation -------------------------------------------------------------------


def _interpolate_all(doc: _Doc, env: Mapping[str, str], issues: _Issues) -> None:
    pending: list[tuple[JSONPath, Any]] = [((), doc.data)]
    while pending:
        path, node = pending.pop()
        items: Iterator[tuple[Any, Any]]
        if isinstance(node, dict):
            items = iter(node.items())  # replacing values while iterating is safe
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for key, value in items:
            if isinstance(value, str):
                if "$" in value:
                    node[key] = _interpolate(value, env, (*path, key), doc, issues)
            elif isinstance(value, (dict, list)):
                pending.append(((*path, key), value))


def _interpolate(
    text: str, env: Mapping[str, str], path: JSONPath, doc: _Doc, issues: _Issues
) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        body = match.group(2)
        if body is None:
            issues.add(path, _mark(doc, path), "unterminated '${' (write '$$' for a literal '$')")
            return match.group(0)
        variable = _VARIABLE_BODY.match(body)
        if variable is None:
            issues.add(
                path,
                _mark(doc, path),
                f"{_short('${' + body + '}')} is not a variable reference: "
                "use ${NAME} or ${NAME:-default} (and '$$' for a literal '$')",
            )
            return match.group(0)
        name, default = variable.groups()
        if default is not None:
            # As in the shell: the default also stands in for a variable set to "".
            return env.get(name) or default
        if name in env:
            return env[name]
        issues.add(
            path,
            _mark(doc, path),
            f"environment variable {name} is not set (give a default with ${{{name}:-...}})",
        )
        return match.group(0)

    return _VARIABLE.sub(substitute, text)


# --- stage 4: the schema ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = schema_text("hooks.schema.json")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    # Imported here: jsonschema costs ~100 ms to import, which `hookctl --version` must not pay.
    from jsonschema import Draft202012Validator

    schema = _schema()
    return Draft202012Validator(_inline_refs(schema, schema["$defs"]))


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


def _check_schema(doc: _Doc, issues: _Issues) -> None:
    found: dict[JSONPath, list[ValidationError]] = {}
    for error in _validator().iter_errors(doc.data):
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
                issues.add(path, _mark(doc, (*path, error.instance), key=True), message)
                continue
            for where, at_key, message in _describe(error, path):
                issues.add(where, _mark(doc, where, key=at_key), message)


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
            out.append(((*path, key), True, f"unknown key {_short(key)} ({hint})"))
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


# --- stage 5: what the schema cannot say ------------------------------------------------------


def _check_semantics(
    doc: _Doc, issues: _Issues
) -> tuple[dict[int, str], dict[int, frozenset[str]]]:
    """Check accounts, urls, names and ownership. Returns each usable hook url by entry, and
    the accounts of each entry that limits itself to some."""
    data = doc.data if isinstance(doc.data, dict) else {}
    ownership = _mapping(data.get("ownership"))
    hooks = [
        (index, hook)
        for index, hook in enumerate(_sequence(data.get("hooks")))
        if isinstance(hook, dict)
    ]

    accounts = _mapping(data.get("accounts"))
    if "account" in data and "accounts" in data:
        issues.add(
            ("accounts",),
            _mark(doc, ("accounts",), key=True),
            "use either account (one account) or accounts (named accounts), not both",
        )
    sections: list[tuple[JSONPath, Any]] = [(("account",), data.get("account"))]
    sections += [(("accounts", name), value) for name, value in accounts.items()]
    for where, section in sections:
        api_url = _mapping(section).get("api_url")
        if isinstance(api_url, str):
            _check_url(doc, (*where, "api_url"), api_url, issues, "Keap API credentials")

    for index, prefix in enumerate(_sequence(ownership.get("url_prefixes"))):
        if isinstance(prefix, str):
            _check_url(doc, ("ownership", "url_prefixes", index), prefix, issues, None)
    ignore = tuple(g for g in _sequence(ownership.get("ignore")) if isinstance(g, str))
    ignores = Ownership(ignore=ignore)

    names: dict[str, int] = {}
    urls: dict[int, str] = {}
    targets: dict[int, frozenset[str]] = {}
    for index, hook in hooks:
        name = hook.get("name")
        path: JSONPath = ("hooks", index, "name")
        if isinstance(name, str):
            first = names.setdefault(name, index)
            if first != index:
                issues.add(
                    path,
                    _mark(doc, path),
                    f"{_short(name)} is already the name of {_where(doc, ('hooks', first))}",
                )
        if "accounts" in hook:
            targets[index] = _check_targets(doc, index, hook["accounts"], accounts, issues)
        url = hook.get("url")
        path = ("hooks", index, "url")
        if isinstance(url, str) and not issues.flagged(path):
            if not _check_url(doc, path, url, issues, "events"):
                continue
            if ignores.ignores(url):
                glob_index, glob = next(
                    (i, g) for i, g in enumerate(ignore) if fnmatch.fnmatchcase(url, g)
                )
                issues.add(
                    path,
                    _mark(doc, path),
                    f"is matched by ownership.ignore[{glob_index}] ({_short(glob)}), so hookctl "
                    "would never manage it: remove the glob or change the url",
                )
            urls[index] = url
    return urls, targets


def _check_targets(
    doc: _Doc, index: int, listed: Any, accounts: dict[str, Any], issues: _Issues
) -> frozenset[str]:
    """The accounts a hook entry limits itself to, each checked to be declared."""
    path: JSONPath = ("hooks", index, "accounts")
    if not accounts:
        issues.add(
            path,
            _mark(doc, path, key=True),
            "needs named accounts: declare them in a top-level accounts: mapping",
        )
        return frozenset()
    # Only names that are names: one the schema refused may be a secret pasted as a key.
    valid = re.compile(_schema()["properties"]["accounts"]["propertyNames"]["pattern"])
    names = [name for name in accounts if valid.match(name)]
    for position, name in enumerate(_sequence(listed)):
        where = (*path, position)
        if isinstance(name, str) and name not in accounts and not issues.flagged(where):
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "declared: " + ", ".join(names)
            issues.add(where, _mark(doc, where), f"{_short(name)} is not an account ({hint})")
    return frozenset(name for name in _sequence(listed) if isinstance(name, str))


def _check_events(
    doc: _Doc,
    hooks: list[tuple[int, dict[str, Any]]],
    urls: dict[int, str],
    event_types: EventTypes,
    issues: _Issues,
) -> set[Subscription]:
    declared = [
        (index, path, event)
        for index, hook in hooks
        for path, event in _events_of(index, hook)
        if not issues.flagged(path)
    ]
    universe = _universe(event_types, [event for _, _, event in declared])
    known = frozenset(universe)
    names = {index: hook.get("name") for index, hook in hooks}
    expansions: dict[str, tuple[str, ...]] = {}
    suggestions: dict[str, str] = {}
    owner: dict[tuple[str, str], tuple[JSONPath, str]] = {}
    subscriptions: set[Subscription] = set()

    for hook_index, path, event in declared:
        if event in known:
            keys: tuple[str, ...] = (event,)
        elif not is_event_glob(event):
            if event not in suggestions and not issues.full:
                close = difflib.get_close_matches(event, universe, n=1)
                suggestions[event] = f" (did you mean {close[0]!r}?)" if close else ""
            hint = suggestions.get(event, "")
            issues.add(path, _mark(doc, path), f"{_short(event)} is not a Keap event type{hint}")
            continue
        else:
            if event not in expansions:
                expansions[event] = tuple(k for k in universe if event_glob_matches(event, k))
            keys = expansions[event]
            if not keys:
                issues.add(path, _mark(doc, path), f"{_short(event)} matches no Keap event type")
                continue

        url = urls.get(hook_index)
        if url is None:
            continue
        for key in keys:
            if (key, url) in owner:
                first, first_event = owner[key, url]
                what = _short(event) if key == event else f"{_short(event)} includes {key!r}, which"
                mark = _mark(doc, first)
                at = f", line {mark[0]}" if mark else ""
                issues.add(
                    path,
                    _mark(doc, path),
                    f"{what} is already declared for this url by {_format_path(first)} "
                    f"({_short(first_event)}{at})",
                )
                break
            owner[key, url] = (path, event)
            name = names[hook_index]
            subscriptions.add(Subscription(key, url, name if isinstance(name, str) else ""))
    return subscriptions


def _universe(event_types: EventTypes, events: list[str]) -> tuple[str, ...]:
    """The event types to check against, in a stable order and without repeats."""
    if event_types is None:
        return KNOWN_EVENT_KEYS
    if callable(event_types):
        if not _beyond_builtin(events):
            return KNOWN_EVENT_KEYS
        event_types = event_types()
    return tuple(dict.fromkeys(event_types))


def _beyond_builtin(events: Iterable[str]) -> bool:
    return any(event not in _BUILTIN for event in events)


def _check_url(doc: _Doc, path: JSONPath, url: str, issues: _Issues, cleartext: str | None) -> bool:
    """Check an absolute http(s) url; warn about http:// off loopback when `cleartext` names
    what would travel unencrypted. Returns whether the url is usable."""
    try:
        host = url_host(url)
    except ValueError as exc:
        issues.add(path, _mark(doc, path), str(exc))
        return False
    if cleartext and url.startswith("http:") and not is_loopback(host):
        issues.warn(
            path,
            _mark(doc, path),
            f"http:// to {host}, which is not a loopback host: "
            f"{cleartext} would travel unencrypted (use https://)",
        )
    return True


def _where(doc: _Doc, path: JSONPath) -> str:
    mark = _mark(doc, path)
    return _format_path(path) + (f" (line {mark[0]})" if mark else "")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _events_of(index: int, hook: Any) -> Iterator[tuple[JSONPath, str]]:
    for position, event in enumerate(_sequence(_mapping(hook).get("events"))):
        if isinstance(event, str):
            yield ("hooks", index, "events", position), event


# --- the result -------------------------------------------------------------------------------


def _account(name: str, section: dict[str, Any]) -> Account:
    credentials = section.get("credentials", {})
    return Account(
        name=name,
        api_url=section.get("api_url"),
        api_key_env=credentials.get("api_key_env"),
        access_token_env=credentials.get("access_token_env"),
    )


def _desired_state(
    data: dict[str, Any],
    account: Account,
    subscriptions: set[Subscription],
    source: str,
    digest: str,
) -> DesiredState:
    """Assemble the result from data that passed every check."""
    ownership = data.get("ownership", {})
    safety = data.get("safety", {})
    defaults = Safety()
    return DesiredState(
        subscriptions=frozenset(subscriptions),
        ownership=Ownership(
            # Every url of the file, whichever accounts its entry names: taking an account off
            # an entry must delete that entry's subscriptions there, not leave them unmanaged.
            declared_urls=frozenset(hook["url"] for hook in data["hooks"]),
            url_prefixes=tuple(ownership.get("url_prefixes", ())),
            ignore=tuple(ownership.get("ignore", ())),
            all=ownership.get("all", False),
        ),
        account=account,
        safety=Safety(
            min_existing=safety.get("min_existing", defaults.min_existing),
            max_update_ratio=float(safety.get("max_update_ratio", defaults.max_update_ratio)),
            max_delete_ratio=float(safety.get("max_delete_ratio", defaults.max_delete_ratio)),
        ),
        source=source,
        digest=digest,
    )
