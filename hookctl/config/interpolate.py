"""Stage 3: ``${VAR}``, ``${VAR:-default}`` and ``$$`` in every string value (never in keys).

Runs before the schema, so that the schema's verdict is about the values that will be used.

A hooks file may come from a pull request and is read next to the account's credentials, so
only variables named ``HOOK_*`` or ``HOOKS_*`` interpolate; a credential variable (``KEAP_*``,
or one any account's ``credentials`` names) is refused even with that prefix. Every value taken
from the environment is hidden from all output (hookctl.domain.secrets).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from hookctl.config.issues import Issues, JSONPath, short
from hookctl.config.source import Doc
from hookctl.domain.secrets import INTERPOLATED_PREFIXES, hide

_VARIABLE = re.compile(r"\$(?:(\$)|\{([^}]*)\}|(\{))")
_VARIABLE_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\Z", re.DOTALL)
# Variables that hold credentials whatever the file says (the default credential variables).
_CREDENTIAL_PREFIX = "KEAP_"


def interpolate_all(doc: Doc, env: Mapping[str, str], issues: Issues) -> None:
    """Replace the variable references in every string value of `doc`, in place."""
    credentials = _credential_names(doc.data)
    used: list[str] = []
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
                    node[key] = _expand(
                        value, _Scope(env, credentials, used), (*path, key), doc, issues
                    )
            elif isinstance(value, (dict, list)):
                pending.append(((*path, key), value))
    hide(used)


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


def _expand(text: str, scope: _Scope, path: JSONPath, doc: Doc, issues: Issues) -> str:
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
        if default is not None:
            # As in the shell: the default also stands in for a variable set to "".
            return scope.get(name) or default
        if name in scope.env:
            return scope.get(name) or ""
        issues.add(
            path,
            doc.mark(path),
            f"environment variable {name} is not set (give a default with ${{{name}:-...}})",
        )
        return match.group(0)

    return _VARIABLE.sub(substitute, text)
