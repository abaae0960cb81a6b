"""hooks.yaml: read it, check it as strictly as a compiler, and hand back a Document.

The one way in: ``read(path)`` or ``read_text(text)``, then ``Document.desired(account,
event_types)`` for each account. The stages, each in its own module, each reporting every
problem it finds before the next one runs:

1. and 2. source: bytes, then YAML events built into plain data with the mark of every value.
3. interpolate: ``${VAR}`` / ``${VAR:-default}`` in every string value (never keys).
4. schema: the JSON Schema on the interpolated data, so the verdict is about what will be used.
5. checks: what a schema cannot say (accounts, urls, duplicate names, ownership conflicts);
   then, for each account (Document.desired), event types, wildcards and duplicate pairs.

A path flagged by one stage is not reported again by a later one, so one mistake gives one
message. Nothing is printed; warnings go to the ``hookctl.config`` logger as ``file:line:col``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hookctl.config.checks import EventTypes, check_every_account, check_semantics
from hookctl.config.document import Document
from hookctl.config.interpolate import Placeholders, in_hooks, interpolate_all, strict
from hookctl.config.issues import Issues
from hookctl.config.schema import check_schema
from hookctl.config.source import MAX_FILE_BYTES, read_file, to_doc
from hookctl.system.files import not_a_file

__all__ = ["MAX_FILE_BYTES", "Document", "EventTypes", "not_a_file", "read", "read_text"]


def read(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    placeholders: bool = False,
) -> Document:
    """Read a hooks file and run every check that needs no account (see read_text)."""
    return read_text(read_file(path), os.fspath(path), env, placeholders=placeholders)


def read_text(
    text: str | bytes,
    source: str = "hooks.yaml",
    env: Mapping[str, str] | None = None,
    *,
    placeholders: bool = False,
) -> Document:
    """Check a hooks document given as text or bytes up to its event types; `source` names it in
    messages and `env` (os.environ by default) gives the variables. ConfigError lists every
    problem.

    When there are problems, the events are checked too, against the built-in list, so that one
    run shows every mistake. An event type that only the account offers is then reported as
    well; a file without other problems has its events checked by Document.desired(), against
    the account's own event types.

    With `placeholders`, a variable the hooks entries use may be unset: it stands in as a
    harmless value and the Document names it in `unset` (for commands that never send a hook
    url: validate --offline, hookctl hooks). Without, every unset variable is a problem.
    """
    issues = Issues(source)
    raw, doc = to_doc(text, issues)
    found = Placeholders(in_hooks if placeholders else strict)
    interpolate_all(doc, os.environ if env is None else env, issues, found)
    issues.seal()
    check_schema(doc, issues)
    issues.seal()
    urls, entry_accounts = check_semantics(doc, issues)
    issues.emit_warnings()
    if issues:
        check_every_account(doc, urls, entry_accounts, issues)
        raise issues.error()
    return Document.checked(source, raw, doc, urls, entry_accounts, found)
