"""Stage 3: ``${VAR}``, ``${VAR:-default}`` and ``$$`` in every string value (never in keys).

Runs before the schema, so that the schema's verdict is about the values that will be used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from hookctl.config.issues import Issues, JSONPath, short
from hookctl.config.source import Doc

_VARIABLE = re.compile(r"\$(?:(\$)|\{([^}]*)\}|(\{))")
_VARIABLE_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\Z", re.DOTALL)


def interpolate_all(doc: Doc, env: Mapping[str, str], issues: Issues) -> None:
    """Replace the variable references in every string value of `doc`, in place."""
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
                    node[key] = _expand(value, env, (*path, key), doc, issues)
            elif isinstance(value, (dict, list)):
                pending.append(((*path, key), value))


def _expand(text: str, env: Mapping[str, str], path: JSONPath, doc: Doc, issues: Issues) -> str:
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
        if default is not None:
            # As in the shell: the default also stands in for a variable set to "".
            return env.get(name) or default
        if name in env:
            return env[name]
        issues.add(
            path,
            doc.mark(path),
            f"environment variable {name} is not set (give a default with ${{{name}:-...}})",
        )
        return match.group(0)

    return _VARIABLE.sub(substitute, text)
