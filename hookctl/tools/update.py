"""`hookctl import --update FILE`: take what was changed by hand in Keap back into an existing
hooks file, editing it in place so that its names, comments, key order, wildcards and `${VAR}`
interpolations stay as they are.

Only what differs changes: an event added to or removed from a url becomes that entry's event
list; a new url the file owns becomes a new entry (named and written as `hookctl import` would);
a declared url that was replaced by hand becomes the entry's new url, unless the entry builds
its url with `${VAR}` (then it is a conflict, reported and left alone); a wildcard that no
longer matches exactly what the account has is expanded, for that entry only, with a comment.
The result is read back with the loader and planned against the same listing: what a plan
would still do (verifications, duplicate copies, conflicts) is reported.

Editing with comments kept needs ruamel.yaml (see hookctl.tools.fmt), imported on this path only.
"""

from __future__ import annotations

import io
import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from hookctl import config
from hookctl.domain.models import DesiredState, event_glob_matches, is_event_glob, key_order
from hookctl.domain.planner import Plan, plan
from hookctl.domain.urls import mask_url
from hookctl.errors import ConfigError, HookctlError
from hookctl.keap.client import Keap
from hookctl.tools.importer import Placeholder, entry_name, unique_name, url_template

__all__ = ["Updated", "update"]


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


def update(keap: Keap, path: str, original: str) -> Updated:
    """The text of the hooks file `path` (holding `original`) updated to what the account of
    `keap` holds. Nothing is written."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    document = config.read_text(original, path)
    event_types = keap.event_types()
    before = document.desired(None, event_types)
    live = keap.list()
    # Every url the file may take (not ignored), with its events: a declared url changed by
    # hand may have moved outside what the file owns.
    live_events: dict[str, set[str]] = {}
    first_key: dict[str, str] = {}
    for hook in live:
        if not before.ownership.ignores(hook.hook_url):
            live_events.setdefault(hook.hook_url, set()).add(hook.event_key)
            if key_order(hook.key) < key_order(first_key.get(hook.hook_url, hook.key)):
                first_key[hook.hook_url] = hook.key
            first_key.setdefault(hook.hook_url, hook.key)

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 1 << 16
    rt.indent(mapping=2, sequence=4, offset=2)
    data = rt.load(original)
    hooks = data["hooks"]
    declared = {sub.hook_url for sub in before.subscriptions}
    notes: list[str] = []
    claimed: set[str] = set()
    gone: list[Any] = []

    for entry in hooks:
        name = str(entry["name"])
        mine = {s.event_key for s in before.subscriptions if s.name == name}
        urls = {s.hook_url for s in before.subscriptions if s.name == name}
        if len(urls) != 1:
            continue  # an entry not meant for this account
        (url,) = urls
        if url in live_events:
            claimed.add(url)
            wanted = live_events[url]
        else:
            moved = [
                other
                for other, events in live_events.items()
                if other not in declared and other not in claimed and events == mine
            ]
            if len(moved) != 1:
                gone.append(entry)
                notes.append(f"removed entry {name}: its url has no subscriptions in the account")
                continue
            (new_url,) = moved
            claimed.add(new_url)
            wanted = live_events[new_url]
            if "${" in str(entry["url"]):
                notes.append(
                    f"conflict: entry {name}: its url is now {mask_url(new_url)} in the account, "
                    "and the file builds it with ${VAR}: left alone (set the variable or edit "
                    "the entry)"
                )
                continue
            entry["url"] = new_url.replace("$", "$$")
            notes.append(f"entry {name}: url changed to {mask_url(new_url)}")
        if wanted != mine:
            _set_events(entry, name, wanted, event_types, notes, DoubleQuotedScalarString)

    for entry in gone:
        hooks.remove(entry)

    taken = {str(entry["name"]) for entry in hooks}
    variables: set[str] = set()
    placeholders: list[Placeholder] = []
    owned = {url for url in live_events if before.ownership.manages(url)}
    for url in sorted(owned - claimed - declared):
        name = unique_name(entry_name(url), taken)
        template, found = url_template(url, name, first_key[url], variables)
        placeholders += found
        added = CommentedMap()
        added["name"] = name
        added["url"] = template
        events = CommentedSeq(_quoted(sorted(live_events[url]), DoubleQuotedScalarString))
        events.fa.set_flow_style()
        added["events"] = events
        if hooks.fa.flow_style():
            hooks.fa.set_block_style()
        hooks.append(added)
        notes.append(f"new entry {name}: {mask_url(url)}")

    out = io.StringIO()
    rt.dump(data, out)
    text = out.getvalue()
    env = {**os.environ, **{p.name: p.value for p in placeholders}}
    try:
        after = config.read_text(text, path, env=env).desired(None, event_types)
    except ConfigError as exc:
        raise HookctlError(
            f"hookctl import --update made a file that does not load (please report this):\n{exc}"
        ) from None
    return Updated(
        path=path,
        text=text,
        changed=text != original,
        diff=_diff(before, after),
        notes=tuple(notes),
        plan=plan(after, live),
        placeholders=tuple(placeholders),
    )


def _set_events(
    entry: Any,
    name: str,
    wanted: set[str],
    event_types: Collection[str],
    notes: list[str],
    quoted: type[str],
) -> None:
    """Make the entry's events `wanted`, keeping the names and wildcards still true."""
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
    events.extend(_quoted(kept, quoted))
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
