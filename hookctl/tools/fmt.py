"""`hookctl fmt`: one canonical layout for hooks files, so that reviews are about hooks and not
about indentation, key order or list style.

The layout: top-level keys in the order version, account, accounts, ownership, safety, hooks;
each entry's keys in the order name, url, events, accounts; 2-space indentation (list items
indented under their key); `events` in flow style (`[a, b]`), unless a comment is written on
one of its items (it stays with its item, in a block list). Keys hookctl does not know keep
their place after the known ones. Comments, quoting and blank lines are kept.

Editing with comments kept needs a round-trip YAML library, ruamel.yaml, set up once in
hookctl.tools.roundtrip and imported only on the fmt path. Reading a hooks file stays with the
loader (hookctl.config), and a formatted text is checked to read as the same data (with
PyYAML, which the loader uses) before it is returned: formatting never changes what a file
asks for.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from hookctl.errors import HookctlError
from hookctl.system.files import TooLarge, read_bounded_text, rewrite_in_place
from hookctl.tools.roundtrip import round_trip

__all__ = ["Formatted", "format_file", "format_text", "read_text", "write"]

TOP_LEVEL = ("version", "account", "accounts", "ownership", "safety", "hooks")
ENTRY = ("name", "url", "events", "accounts")
_MAX_BYTES = 10 * 1024 * 1024  # the loader's own bound on a hooks file


@dataclass(frozen=True)
class Formatted:
    """One file's canonical text, and whether it differs from what the file holds."""

    path: str
    text: str
    changed: bool
    original: str = field(default="", repr=False)

    def diff(self) -> list[str]:
        """The change as a unified diff (as `terraform fmt -check -diff` shows it), one line
        each, without their line ends; empty when nothing changes."""
        if not self.changed:
            return []
        lines = difflib.unified_diff(
            self.original.splitlines(),
            self.text.splitlines(),
            fromfile=self.path,
            tofile=f"{self.path} (formatted)",
            lineterm="",
        )
        return list(lines)


def format_text(text: str, source: str = "hooks.yaml") -> str:
    """`text` in the canonical layout. HookctlError, one line naming `source`, when it is not
    YAML, its top level is not a mapping, or formatting would change what it reads as."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    _refuse_aliases(text, source)
    before = _pyyaml(text, source)
    rt = round_trip()
    try:
        data = rt.load(text)
    except YAMLError as exc:
        raise HookctlError(f"{source}: not YAML hookctl fmt can edit: {_first_line(exc)}") from None
    if not isinstance(data, CommentedMap):
        raise HookctlError(f"{source}: the top level must be a mapping (version, hooks, ...)")
    _reorder(data, TOP_LEVEL)
    hooks = data.get("hooks")
    if isinstance(hooks, CommentedSeq):
        for entry in hooks:
            if isinstance(entry, CommentedMap):
                _reorder(entry, ENTRY)
                events = entry.get("events")
                if isinstance(events, CommentedSeq):
                    _flow(entry, "events", events)
    out = io.StringIO()
    rt.dump(data, out)
    # ruamel.yaml may end a document on a flow list without its final newline.
    formatted = out.getvalue().rstrip("\n") + "\n"
    if _pyyaml(formatted, source) != before:
        raise HookctlError(
            f"{source}: hookctl fmt would change what this file means, so it left it alone "
            "(please report this)"
        )
    return formatted


def format_file(path: str) -> Formatted:
    """The canonical text of the file at `path`; nothing is written."""
    text = read_text(path)
    formatted = format_text(text, path)
    return Formatted(path, formatted, formatted != text, text)


def read_text(path: str) -> str:
    """The text of a hooks file to edit, bounded as the loader bounds it; HookctlError naming
    the path when it cannot be read or is not UTF-8."""
    try:
        return read_bounded_text(path, _MAX_BYTES)
    except OSError as exc:
        raise HookctlError(f"{path}: cannot read: {exc.strerror or type(exc).__name__}") from None
    except TooLarge as exc:
        raise HookctlError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise HookctlError(f"{path}: not UTF-8 (byte {exc.start})") from None


def write(results: Sequence[Formatted]) -> None:
    """Write each changed file in place, atomically, as system.files.rewrite_in_place does
    (mode kept, symlinks followed, a file changed since it was read left alone)."""
    for result in results:
        if result.changed:
            rewrite_in_place(result.path, result.text, result.original, what="the formatted file")


def _refuse_aliases(text: str, source: str) -> None:
    """The loader refuses YAML aliases; fmt does too, before anything expands them (a file of a
    few hundred bytes can expand to billions of nodes)."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
                raise HookctlError(
                    f"{source}{where}: YAML aliases (*name) are not allowed in a hooks file"
                )
    except yaml.YAMLError as exc:
        raise HookctlError(f"{source}: not valid YAML: {_first_line(exc)}") from None


def _pyyaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise HookctlError(f"{source}: not valid YAML: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def _reorder(mapping: Any, order: Sequence[str]) -> None:
    """Move the keys of `order` first, in that order; the others keep theirs after them. A
    comment stays with the key it follows in the file."""
    keys = list(mapping.keys())
    wanted = [key for key in order if key in mapping]
    wanted += [key for key in keys if key not in order]
    if keys != wanted:
        for key in wanted:
            mapping.move_to_end(key)


def _flow(entry: Any, key: str, events: Any) -> None:
    """Write `events` as `[a, b]`. A block list's comments (on the key's line, or on or between
    its items) have nowhere to go inside a flow list: they follow it, each on its own line."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if events.fa.flow_style() or _item_comments(events):
        # A comment on an item says something about that event: inside a flow list it
        # would end up on a line of its own, about nothing, so such a list stays a block.
        return
    events.fa.set_flow_style()
    lines: list[str] = []
    eol: str | None = None
    own = events.ca.comment
    if own and own[0] is not None:
        eol = own[0].value.split("\n", 1)[0].strip() or None
        rest = own[0].value.split("\n", 1)[1] if "\n" in own[0].value else ""
        lines += rest.split("\n")[:-1]
    for index in sorted(events.ca.items):
        for token in events.ca.items[index]:
            for each in token if isinstance(token, list) else [token]:
                if each is not None:
                    lines += (
                        each.value.split("\n")[:-1] if each.value.endswith("\n") else [each.value]
                    )
    events.ca.items.clear()
    if eol is None and not lines:
        events.ca.comment = None
        return
    kept = [line.strip() for line in lines]
    # Blank lines at the end separate this entry from the next: keep them there.
    tail = 0
    while kept and not kept[-1]:
        kept.pop()
        tail += 1
    indent = " " * _column(entry, key)
    body = "".join(f"{indent}{line}\n" if line else "\n" for line in kept) + "\n" * tail
    value = (eol or "") + "\n" + body
    old = entry.ca.items.pop(key, None)
    at = old[2].column if old is not None and old[2] is not None and eol else 0
    # On a flow list, ruamel.yaml writes the list's own comment after its closing bracket.
    events.ca.comment = [CommentToken(value, CommentMark(at)), None]


def _item_comments(events: Any) -> bool:
    """Whether a comment follows one of the list's items (on its line or below it), other
    than the blank lines and comments that end the list, which belong to what comes next."""
    last = len(events) - 1
    for index, tokens in events.ca.items.items():
        for token in tokens if isinstance(tokens, list) else [tokens]:
            for each in token if isinstance(token, list) else [token]:
                if each is None or not each.value.strip():
                    continue
                if index < last or not each.value.startswith("\n"):
                    return True
    return False


def _column(entry: Any, key: str) -> int:
    """The column the entry's keys start at, for comment lines written below one of them."""
    try:
        return int(entry.lc.key(key)[1])
    except (AttributeError, KeyError, TypeError):
        return 4
