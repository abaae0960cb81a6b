"""Stage 3: ``${VAR}``, ``${VAR:-default}`` and ``$$`` in every string value (never in keys).

Runs before the schema, so that the schema's verdict is about the values that will be used.

A hooks file may come from a pull request and is read next to the account's credentials, so
only variables named ``HOOK_*`` or ``HOOKS_*`` interpolate; a credential variable (``KEAP_*``,
or one any account's ``credentials`` names) is refused even with that prefix. Every value taken
from the environment is hidden from all output (hookctl.domain.secrets).

Placeholders are first-class: with a `Placeholders` whose `lenient` says so for a path, an
unset variable there stands in as a harmless value (`validate --offline`, `hookctl hooks`:
they never send a hook url), and is named in `unset` for the commands that will need it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hookctl.config.issues import Issues, JSONPath, short
from hookctl.config.source import Doc
from hookctl.domain.secrets import INTERPOLATED_PREFIXES, hide

_VARIABLE = re.compile(r"\$(?:(\$)|\{([^}]*)\}|(\{))")
_VARIABLE_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\Z", re.DOTALL)
# Variables that hold credentials whatever the file says (the default credential variables).
_CREDENTIAL_PREFIX = "KEAP_"


def strict(path: JSONPath) -> bool:
    """Every variable must be set (plan, apply, drift: what is compared with Keap)."""
    return False


def in_hooks(path: JSONPath) -> bool:
    """Unset variables may stand in within the hooks entries; the account and ownership
    settings, which say where and what to call, must be set."""
    return bool(path) and path[0] == "hooks"


@dataclass
class Placeholders:
    """Where an unset variable may stand in, and what interpolation found out about them."""

    lenient: Callable[[JSONPath], bool] = strict
    # Each variable left unset, with a path that uses it.
    unset: dict[str, JSONPath] = field(default_factory=dict)
    # The variables each string value references (the url of hooks[2] at ("hooks", 2, "url")).
    used: dict[JSONPath, tuple[str, ...]] = field(default_factory=dict)


def stand_in(name: str) -> str:
    """What an unset variable reads as where it may: usable in a url's host, path or query, and
    plainly not a real value."""
    return "unset-" + name.lower().replace("_", "-")


def interpolate_all(
    doc: Doc, env: Mapping[str, str], issues: Issues, found: Placeholders | None = None
) -> None:
    """Replace the variable references in every string value of `doc`, in place."""
    found = Placeholders() if found is None else found
    credentials = _credential_names(doc.data)
    hidden: list[str] = []
    scope = _Scope(env, credentials, hidden)
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
                    node[key] = _expand(value, scope, (*path, key), doc, issues, found)
            elif isinstance(value, (dict, list)):
                pending.append(((*path, key), value))
    hide(hidden)


def refusal(name: str, credentials: frozenset[str] = frozenset()) -> str | None:
    """Why a hooks file may not use the variable `name`, or None when it may."""
    if name.startswith(_CREDENTIAL_PREFIX) or name in credentials:
        return f"${{{name}}} holds a credential and cannot be used in hooks.yaml"
    if not name.startswith(INTERPOLATED_PREFIXES):
        return (
            f"${{{name}}} is not allowed: hooks.yaml may only use variables named "
            "HOOK_* or HOOKS_* (so that a pull request cannot read other variables)"
        )
    return None


class _Scope:
    """The environment as one file may see it, and the values it was given."""

    def __init__(self, env: Mapping[str, str], credentials: frozenset[str], used: list[str]):
        self.env = env
        self.credentials = credentials
        self.used = used

    def get(self, name: str) -> str | None:
        value = self.env.get(name)
        if value:
            self.used.append(value)
        return value


def _credential_names(data: Any) -> frozenset[str]:
    """Every variable the file's accounts name as a credential (read before interpolation: a
    name is never itself interpolated into a credential setting)."""
    if not isinstance(data, dict):
        return frozenset()
    sections: list[Any] = [data.get("account")]
    accounts = data.get("accounts")
    if isinstance(accounts, dict):
        sections.extend(accounts.values())
    names: set[str] = set()
    for section in sections:
        credentials = section.get("credentials") if isinstance(section, dict) else None
        if not isinstance(credentials, dict):
            continue
        oauth = credentials.get("oauth")
        for value in (*credentials.values(), *(oauth.values() if isinstance(oauth, dict) else ())):
            if isinstance(value, str):
                names.add(value)
    return frozenset(names)


def _expand(
    text: str,
    scope: _Scope,
    path: JSONPath,
    doc: Doc,
    issues: Issues,
    found: Placeholders,
) -> str:
    used: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        body = match.group(2)
        if body is None:
            issues.add(path, doc.mark(path), "unterminated '${' (write '$$' for a literal '$')")
            return match.group(0)
        variable = _VARIABLE_BODY.match(body)
        if variable is None:
            issues.add(
                path,
                doc.mark(path),
                f"{short('${' + body + '}')} is not a variable reference: "
                "use ${NAME} or ${NAME:-default} (and '$$' for a literal '$')",
            )
            return match.group(0)
        name, default = variable.groups()
        refused = refusal(name, scope.credentials)
        if refused is not None:
            issues.add(path, doc.mark(path), refused)
            return match.group(0)
        used.append(name)
        if default is not None:
            # As in the shell: the default also stands in for a variable set to "".
            value = scope.get(name) or default
        elif name in scope.env:
            value = scope.get(name) or ""
        elif found.lenient(path):
            found.unset.setdefault(name, path)
            if match.start() == 0 and path[-1] == "url":
                # A url's start is its scheme and host: stand in as a url that can be no one's.
                return f"https://{stand_in(name)}.invalid"
            return stand_in(name)
        else:
            issues.add(
                path,
                doc.mark(path),
                f"environment variable {name} is not set: plan, apply and drift need it "
                "(validate --offline checks the file without it)",
            )
            return match.group(0)
        if not value and _secret_position(match):
            issues.add(path, doc.mark(path), _blanked(name, path, doc))
        return value

    expanded = _VARIABLE.sub(substitute, text)
    if used:
        found.used[path] = tuple(dict.fromkeys(used))
    return expanded


def _secret_position(match: re.Match[str]) -> bool:
    """Whether the reference is the whole of a url's query value or fragment, the parts that
    hold a receiver's token: empty, the receiver would lose it."""
    before, after = match.string[: match.start()], match.string[match.end() :]
    if "?" not in before and "#" not in before:
        return False
    return before.endswith(("=", "?", "&", "#")) and (not after or after[0] in "&#")


def _blanked(name: str, path: JSONPath, doc: Doc) -> str:
    entry = ""
    if len(path) >= 2 and path[0] == "hooks" and isinstance(path[1], int):
        hook = doc.data["hooks"][path[1]] if isinstance(doc.data.get("hooks"), list) else None
        if isinstance(hook, dict) and isinstance(hook.get("name"), str):
            entry = f" of entry {short(hook['name'])}"
    return (
        f"environment variable {name} is empty or unset, and it is a query value or fragment "
        f"of the url{entry}: an empty value would strip the receiver's token; set {name}"
    )
