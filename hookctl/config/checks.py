"""Stage 5: what a schema cannot say.

For the whole file: accounts, urls, duplicate names, ownership conflicts and the accounts each
entry names. For each account: events against its event types, wildcard expansion and
duplicate (event, url) pairs, since each account has event types of its own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from hookctl.config.issues import Issues, JSONPath, format_path, short
from hookctl.config.schema import account_name_pattern
from hookctl.config.source import Doc
from hookctl.domain.models import (
    KNOWN_EVENT_KEYS,
    Ownership,
    Subscription,
    event_glob_matches,
    is_event_glob,
)
from hookctl.domain.urls import host as url_host
from hookctl.domain.urls import is_loopback

# The account's event types: a collection, or a zero-argument callable that is invoked at most
# once and only when the file needs more than the built-in list (see check_events), or None for
# the built-in list (`--offline`).
EventTypes = Collection[str] | Callable[[], Collection[str]] | None

_BUILTIN = frozenset(KNOWN_EVENT_KEYS)


def check_semantics(doc: Doc, issues: Issues) -> tuple[dict[int, str], dict[int, frozenset[str]]]:
    """Check accounts, urls, names and ownership. Returns each usable hook url by entry, and
    the accounts of each entry that limits itself to some."""
    data = doc.data if isinstance(doc.data, dict) else {}
    ownership = mapping(data.get("ownership"))
    hooks = [
        (index, hook)
        for index, hook in enumerate(sequence(data.get("hooks")))
        if isinstance(hook, dict)
    ]

    accounts = mapping(data.get("accounts"))
    if "account" in data and "accounts" in data:
        issues.add(
            ("accounts",),
            doc.mark(("accounts",), key=True),
            "use either account (one account) or accounts (named accounts), not both",
        )
    sections: list[tuple[JSONPath, Any]] = [(("account",), data.get("account"))]
    sections += [(("accounts", name), value) for name, value in accounts.items()]
    for where, section in sections:
        if where[0] == "accounts" and "name" in mapping(section):
            named: JSONPath = (*where, "name")
            issues.add(
                named,
                doc.mark(named, key=True),
                f"an account of accounts: is named by its key ({short(str(where[1]))}): "
                "remove name",
            )
        api_url = mapping(section).get("api_url")
        if isinstance(api_url, str):
            _check_url(doc, (*where, "api_url"), api_url, issues, "Keap API credentials")

    for index, prefix in enumerate(sequence(ownership.get("url_prefixes"))):
        at: JSONPath = ("ownership", "url_prefixes", index)
        if isinstance(prefix, str) and _check_url(doc, at, prefix, issues, None):
            _check_prefix_path(doc, at, prefix, issues)
    ignore = tuple(g for g in sequence(ownership.get("ignore")) if isinstance(g, str))
    ignores = Ownership(ignore=ignore)

    names: dict[str, int] = {}
    urls: dict[int, str] = {}
    entry_accounts: dict[int, frozenset[str]] = {}
    for index, hook in hooks:
        name = hook.get("name")
        path: JSONPath = ("hooks", index, "name")
        if isinstance(name, str):
            first = names.setdefault(name, index)
            if first != index:
                issues.add(
                    path,
                    doc.mark(path),
                    f"{short(name)} is already the name of {doc.where(('hooks', first))}",
                )
        if "accounts" in hook:
            entry_accounts[index] = _check_entry_accounts(
                doc, index, hook["accounts"], accounts, issues
            )
        url = hook.get("url")
        path = ("hooks", index, "url")
        if isinstance(url, str) and not issues.flagged(path):
            if not _check_url(doc, path, url, issues, "events"):
                continue
            rule = ignores.why(url)
            if rule is not None and not rule.manages:
                issues.add(
                    path,
                    doc.mark(path),
                    f"is matched by ownership.ignore[{rule.index}] ({short(rule.pattern)}), so "
                    "hookctl would never manage it: remove the glob or change the url",
                )
            urls[index] = url
    return urls, entry_accounts


def _check_entry_accounts(
    doc: Doc, index: int, listed: Any, accounts: dict[str, Any], issues: Issues
) -> frozenset[str]:
    """The accounts a hook entry limits itself to, each checked to be declared."""
    path: JSONPath = ("hooks", index, "accounts")
    if not accounts:
        issues.add(
            path,
            doc.mark(path, key=True),
            "needs named accounts: declare them in a top-level accounts: mapping",
        )
        return frozenset()
    # Only names that are names: one the schema refused may be a secret pasted as a key.
    valid = re.compile(account_name_pattern())
    names = [name for name in accounts if valid.match(name)]
    for position, name in enumerate(sequence(listed)):
        where = (*path, position)
        if isinstance(name, str) and name not in accounts and not issues.flagged(where):
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "declared: " + ", ".join(names)
            issues.add(where, doc.mark(where), f"{short(name)} is not an account ({hint})")
    return frozenset(name for name in sequence(listed) if isinstance(name, str))


def check_every_account(
    doc: Doc, urls: dict[int, str], entry_accounts: dict[int, frozenset[str]], issues: Issues
) -> None:
    """Add what the events reveal, against the built-in list, to the problems the other stages
    found, for each account as far as a document with problems says which entries are meant
    for which account. A line that several accounts give is kept once."""
    data = mapping(doc.data)
    names: list[str | None] = [*mapping(data.get("accounts"))]
    for name in names or [None]:
        hooks = [
            (index, hook)
            for index, hook in enumerate(sequence(data.get("hooks")))
            if isinstance(hook, dict)
            and (name is None or index not in entry_accounts or name in entry_accounts[index])
        ]
        check_events(doc, hooks, urls, None, issues)


def check_events(
    doc: Doc,
    hooks: list[tuple[int, dict[str, Any]]],
    urls: dict[int, str],
    event_types: EventTypes,
    issues: Issues,
) -> set[Subscription]:
    """Check the events of `hooks` (index, entry) and expand their wildcards; returns the
    subscriptions of the entries whose url is usable (`urls`).

    Event types: None checks events against models.KNOWN_EVENT_KEYS. A collection is taken as
    the account's event types and checks every event. A callable is invoked (once) only when
    the built-in list cannot settle it, that is when an entry has a wildcard or an event type
    the built-in list does not know; then the account's list decides every event. This lets a
    planner spend a `GET /hooks/event_keys` only when it changes the outcome.
    """
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
            issues.add(path, doc.mark(path), f"{short(event)} is not a Keap event type{hint}")
            continue
        else:
            if event not in expansions:
                expansions[event] = tuple(k for k in universe if event_glob_matches(event, k))
            keys = expansions[event]
            if not keys:
                issues.add(path, doc.mark(path), f"{short(event)} matches no Keap event type")
                continue

        url = urls.get(hook_index)
        if url is None:
            continue
        for key in keys:
            if (key, url) in owner:
                first, first_event = owner[key, url]
                what = short(event) if key == event else f"{short(event)} includes {key!r}, which"
                mark = doc.mark(first)
                at = f", line {mark[0]}" if mark else ""
                issues.add(
                    path,
                    doc.mark(path),
                    f"{what} is already declared for this url by {format_path(first)} "
                    f"({short(first_event)}{at})",
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


def _check_url(doc: Doc, path: JSONPath, url: str, issues: Issues, cleartext: str | None) -> bool:
    """Check an absolute http(s) url; warn about http:// off loopback when `cleartext` names
    what would travel unencrypted. Returns whether the url is usable."""
    try:
        host = url_host(url)
    except ValueError as exc:
        issues.add(path, doc.mark(path), str(exc))
        return False
    if cleartext and url.startswith("http:") and not is_loopback(host):
        issues.warn(
            path,
            doc.mark(path),
            f"http:// to {host}, which is not a loopback host: "
            f"{cleartext} would travel unencrypted (use https://)",
        )
    return True


def _check_prefix_path(doc: Doc, path: JSONPath, prefix: str, issues: Issues) -> None:
    """Warn about a prefix with no path: it owns the whole host, which may be a surprise to
    whoever wrote it as text to be matched (hookctl matches prefixes at url boundaries)."""
    parts = urlsplit(prefix)
    if not parts.path and not parts.query and not parts.fragment:
        issues.warn(
            path,
            doc.mark(path),
            f"{short(prefix)} has no path, so it owns every url on {parts.netloc}, and apply "
            f"may delete any subscription there (write {short(prefix + '/')} if that is meant, "
            "or add the path of your receivers)",
        )


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _events_of(index: int, hook: Any) -> Iterator[tuple[JSONPath, str]]:
    for position, event in enumerate(sequence(mapping(hook).get("events"))):
        if isinstance(event, str):
            yield ("hooks", index, "events", position), event
