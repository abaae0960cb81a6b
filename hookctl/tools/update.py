"""`hookctl import --update FILE`: take what was changed by hand in Keap back into an existing
hooks file, editing it in place so that its names, comments, key order, wildcards and `${VAR}`
interpolations stay as they are.

Only what differs changes: an event added to or removed from a url becomes that entry's event
list; a new url the file owns becomes a new entry (named and written as `hookctl import` would,
its query values as `${HOOK_...}` placeholders); a declared url whose hidden values (a token)
were changed by hand is a rotation, reported with the variable to take the new value into, and
never a new entry; a declared url replaced by hand becomes the entry's new url, unless the
entry builds its url with `${VAR}` (then it is a conflict, reported and left alone); a wildcard
that no longer matches exactly what the account has is expanded, for that entry only, with a
comment; a live url hooks.yaml cannot hold (one with a space, say) is reported and left out.
The result is read back with the loader and planned against the same listing: what a plan
would still do (verifications, duplicate copies, conflicts) is reported.

The file's `${VAR}`s need not be set: an unset one stands in (config's placeholders), and its
entry is matched to the account by the rest of its url.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from hookctl import config
from hookctl.domain.models import (
    DesiredState,
    Hook,
    event_glob_matches,
    is_event_glob,
    key_order,
)
from hookctl.domain.planner import Plan, plan
from hookctl.domain.urls import mask_url, receiver_key, secret_parts
from hookctl.errors import ConfigError, HookctlError
from hookctl.keap.client import Keap
from hookctl.tools.importer import (
    Placeholder,
    entry_names,
    unique_name,
    url_problem,
    url_template,
    variable_scope,
)
from hookctl.tools.roundtrip import round_trip

__all__ = ["Updated", "update"]

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# The most variables of one url whose values are read off a live url (_values_in).
_MAX_READ_OFF = 8


@dataclass(frozen=True)
class Updated:
    """What `import --update` made of a file: its new text, the difference in what it asks
    for (deepdiff, urls masked), notes on what it did and could not do, and the plan of the
    new text against the account."""

    path: str
    text: str
    changed: bool
    diff: str
    notes: tuple[str, ...]
    plan: Plan
    placeholders: tuple[Placeholder, ...] = ()


@dataclass(frozen=True)
class _Live:
    """The account's subscriptions the file may take (not ignored, url declarable), by url."""

    events: dict[str, set[str]]
    first_key: dict[str, str]


@dataclass
class _Edit:
    """What the steps of one update found and did, gathered as they go."""

    scope: str | None = None  # of the placeholders written (importer.variable_scope)
    notes: list[str] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    placeholders: list[Placeholder] = field(default_factory=list)
    variables: set[str] = field(default_factory=set)
    # Unset variables' live values, read off the urls they match: in memory only, for the
    # plan of the updated file to be the one the user gets once they are set.
    live_values: dict[str, str] = field(default_factory=dict, repr=False)


def update(keap: Keap, path: str, original: str) -> Updated:
    """The text of the hooks file `path` (holding `original`) updated to what the account of
    `keap` holds. Nothing is written."""
    document = config.read_text(original, path, placeholders=True)
    event_types = keap.event_types()
    before = document.desired(None, event_types)
    listed = keap.list()
    account = document.accounts[0].name if document.declares_accounts else None
    edit = _Edit(scope=variable_scope(account, path))
    live = _takeable(listed, before, edit)
    data = round_trip().load(original)
    hooks = data["hooks"]
    for entry in list(hooks):
        if not _match_entry(entry, before, document.unset, live, event_types, edit):
            hooks.remove(entry)
    _add_new_entries(hooks, before, live, edit)
    text = _dump(data)
    after = _read_back(text, path, edit, event_types)
    return Updated(
        path=path,
        text=text,
        changed=text != original,
        diff=_diff(before, after),
        notes=tuple(edit.notes),
        plan=plan(after, listed),
        placeholders=tuple(edit.placeholders),
    )


def _takeable(listed: Collection[Hook], before: DesiredState, edit: _Edit) -> _Live:
    """Every url the file may take (not ignored), with its events and oldest key: a declared
    url changed by hand may have moved outside what the file owns. A url hooks.yaml cannot
    hold is left out, with a note."""
    events: dict[str, set[str]] = {}
    first_key: dict[str, str] = {}
    unusable: dict[str, list[str]] = {}
    for hook in sorted(listed, key=lambda h: key_order(h.key)):
        if before.ownership.ignores(hook.hook_url):
            continue
        problem = url_problem(hook.hook_url)
        if problem:
            unusable.setdefault(problem, []).append(hook.key)
            continue
        events.setdefault(hook.hook_url, set()).add(hook.event_key)
        first_key.setdefault(hook.hook_url, hook.key)
    for problem, keys in unusable.items():
        edit.notes.append(
            f"left out key{'s' if len(keys) > 1 else ''} {', '.join(keys)}: the url {problem}, "
            "so hooks.yaml cannot declare it (a plan deletes it if the file owns it)"
        )
    return _Live(events, first_key)


def _match_entry(
    entry: Any,
    before: DesiredState,
    unset: Collection[str],
    live: _Live,
    event_types: Collection[str],
    edit: _Edit,
) -> bool:
    """Bring one entry to what the account has for its url; False when the entry is to go
    (its url has no subscriptions left)."""
    name = str(entry["name"])
    mine = {s.event_key for s in before.subscriptions if s.name == name}
    urls = {s.hook_url for s in before.subscriptions if s.name == name}
    if len(urls) != 1:
        return True  # an entry not meant for this account
    (url,) = urls
    declared = {sub.hook_url for sub in before.subscriptions}
    found = url if url in live.events else _rotated(url, declared, live, edit)
    if found is not None:
        if found != url:
            _rotation(entry, name, url, found, unset, live, edit)
    else:
        moved = [
            other
            for other, events in live.events.items()
            if other not in declared and other not in edit.claimed and events == mine
        ]
        if len(moved) != 1:
            edit.notes.append(f"removed entry {name}: its url has no subscriptions in the account")
            return False
        (found,) = moved
        if "${" in str(entry["url"]):
            edit.claimed.add(found)
            edit.notes.append(
                f"conflict: entry {name}: its url is now {mask_url(found)} in the account, "
                "and the file builds it with ${VAR}: left alone (set the variable or edit "
                "the entry)"
            )
            return True
        _write_url(entry, name, found, live, edit)
        edit.notes.append(f"entry {name}: url changed to {mask_url(found)}")
    edit.claimed.add(found)
    if live.events[found] != mine:
        _set_events(entry, name, live.events[found], event_types, edit.notes)
    return True


def _rotated(url: str, declared: Collection[str], live: _Live, edit: _Edit) -> str | None:
    """The one live url, not declared nor taken by another entry, that differs from `url`
    only in hidden values (a rotated token); None when there is none, or several."""
    key = receiver_key(url)
    candidates = [
        other
        for other in live.events
        if other not in declared and other not in edit.claimed and receiver_key(other) == key
    ]
    return candidates[0] if len(candidates) == 1 else None


def _rotation(
    entry: Any,
    name: str,
    declared: str,
    found: str,
    unset: Collection[str],
    live: _Live,
    edit: _Edit,
) -> None:
    """Report a rotated token, never as a new entry: the entry's variables take the new value;
    a url written literally becomes placeholders (the file is for git)."""
    used = _REFERENCE.findall(str(entry["url"]))
    key = live.first_key[found]
    if used and all(variable in unset for variable in used):
        # The values are not here to compare: the same receiver is all that can be said.
        edit.live_values.update(_values_in(str(entry["url"]), found))
        edit.notes.append(
            f"entry {name}: {', '.join(used)} not set; the account has "
            f"{mask_url(found)} (`hookctl hooks get {key} --reveal`)"
        )
        return
    old, new = secret_parts(declared), secret_parts(found)
    changed = [part for part in new if old.get(part) != new[part]]
    shown = f"{mask_url(declared)} → {mask_url(found)}"
    if used:
        edit.notes.append(
            f"rotation: entry {name}: the account's {', '.join(changed)} changed ({shown}); "
            f"take the new value into {', '.join(used)} (`hookctl hooks get {key} --reveal`)"
        )
        return
    _write_url(entry, name, found, live, edit)
    edit.notes.append(
        f"rotation: entry {name}: the account's {', '.join(changed)} changed ({shown}); "
        "written as placeholders"
    )


def _values_in(template: str, url: str) -> dict[str, str]:
    """The values that make the hooks.yaml string `template` (`${NAME}`s, `$$`) read as
    `url`; empty when it cannot."""
    pattern: list[str] = []
    names: list[str] = []
    pieces = re.split(r"(\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*\})", template)
    if sum(piece.startswith("${") for piece in pieces) > _MAX_READ_OFF:
        return {}  # each lazy group multiplies the matching work on a url Keap sent
    for piece in pieces:
        if piece == "$$":
            pattern.append(re.escape("$"))
        elif piece.startswith("${"):
            name = piece[2:-1]
            # A name used twice must match the same text both times.
            pattern.append(f"(?P={name})" if name in names else f"(?P<{name}>.*?)")
            names.append(name)
        else:
            pattern.append(re.escape(piece))
    match = re.fullmatch("".join(pattern), url, re.DOTALL)
    return {} if match is None else {k: v for k, v in match.groupdict().items() if v}


def _write_url(entry: Any, name: str, url: str, live: _Live, edit: _Edit) -> None:
    template, found = url_template(url, name, live.first_key[url], edit.variables, edit.scope)
    entry["url"] = template
    edit.placeholders += found


def _add_new_entries(hooks: Any, before: DesiredState, live: _Live, edit: _Edit) -> None:
    """An entry, as `hookctl import` writes one, for each url the file owns and no entry has."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    declared = {sub.hook_url for sub in before.subscriptions}
    owned = {url for url in live.events if before.ownership.manages(url)}
    new = sorted(owned - edit.claimed - declared)
    # Named among the urls the file already has, so that a new name reads like its
    # neighbours (globex-orders beside acme-billing, not orders).
    names = entry_names([*sorted(edit.claimed), *new], before.ownership.url_prefixes)
    taken = {str(entry["name"]) for entry in hooks}
    for url in new:
        name = unique_name(names[url], taken)
        added = CommentedMap()
        added["name"] = name
        added["url"] = ""
        _write_url(added, name, url, live, edit)
        events = CommentedSeq(_quoted(sorted(live.events[url]), DoubleQuotedScalarString))
        events.fa.set_flow_style()
        added["events"] = events
        if hooks.fa.flow_style():
            hooks.fa.set_block_style()
        hooks.append(added)
        edit.notes.append(f"new entry {name}: {mask_url(url)}")


def _dump(data: Any) -> str:
    out = io.StringIO()
    round_trip().dump(data, out)
    return out.getvalue()


def _read_back(text: str, path: str, edit: _Edit, event_types: Collection[str]) -> DesiredState:
    """The updated file as the loader reads it, its placeholders set to the live values;
    HookctlError if it does not load (a bug: never hand the user such a file)."""
    new = {p.name: p.value for p in edit.placeholders}
    env: Mapping[str, str] = {**edit.live_values, **os.environ, **new}
    try:
        return config.read_text(text, path, env=env, placeholders=True).desired(None, event_types)
    except ConfigError as exc:
        raise HookctlError(
            f"hookctl import --update made a file that does not load (please report this):\n{exc}"
        ) from None


def _set_events(
    entry: Any, name: str, wanted: set[str], event_types: Collection[str], notes: list[str]
) -> None:
    """Make the entry's events `wanted`, keeping the names and wildcards still true."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    events = entry["events"]
    kept: list[str] = []
    covered: set[str] = set()
    for item in [str(each) for each in events]:
        if is_event_glob(item):
            matched = {e for e in event_types if event_glob_matches(item, e)}
            if matched and matched <= wanted:
                kept.append(item)
                covered |= matched
                continue
            expanded = sorted((matched & wanted) - covered)
            kept += expanded
            covered |= set(expanded)
            notes.append(
                f"entry {name}: {item} expanded to {', '.join(expanded) or 'nothing'}: it no "
                "longer matches exactly what the account has"
            )
            _add_comment(events, f"{item} expanded by hookctl import --update")
        elif item in wanted and item not in covered:
            kept.append(item)
            covered.add(item)
    kept += sorted(wanted - covered)
    shown = sorted(set(str(e) for e in events) ^ set(kept))
    del events[:]
    events.extend(_quoted(kept, DoubleQuotedScalarString))
    if shown:
        notes.append(f"entry {name}: events now {', '.join(kept)}")


def _quoted(events: list[str], quoted: type[str]) -> list[str]:
    # A wildcard's * would start a YAML alias unquoted.
    return [quoted(e) if any(c in e for c in "*?") else e for e in events]


def _add_comment(events: Any, text: str) -> None:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    own = events.ca.comment
    if own and own[0] is not None:
        first, _, rest = own[0].value.partition("\n")
        own[0].value = f"{first.rstrip()}; {text}\n{rest}"
    else:
        events.ca.comment = [CommentToken(f"# {text}\n", CommentMark(0)), None]


def _diff(before: DesiredState, after: DesiredState) -> str:
    """What the file asks for before and after, as deepdiff says it, urls masked."""
    from deepdiff import DeepDiff

    def view(desired: DesiredState) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        for sub in desired.subscriptions:
            entry = entries.setdefault(sub.name, {"url": mask_url(sub.hook_url), "events": []})
            entry["events"].append(sub.event_key)
        for entry in entries.values():
            entry["events"].sort()
        return entries

    difference = DeepDiff(view(before), view(after), ignore_order=True, verbose_level=2)
    return str(difference.pretty()) if difference else ""
