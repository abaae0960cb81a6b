"""`hookctl import`: write a hooks.yaml that adopts what a live account already has.

Pure: takes the listed hooks and returns the document's text, so the round trip (import, then
plan shows no change) can be tested without touching the file system.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from hookctl.models import Hook

_NAME_MAX = 100
_NOT_NAME = re.compile(r"[^a-z0-9]+")
# What a YAML double-quoted scalar cannot hold literally and json.dumps leaves alone: characters
# outside YAML's printable set, and NEL and the Unicode separators, which YAML folds as breaks.
_NOT_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def to_yaml(
    hooks: Sequence[Hook],
    *,
    api_url: str,
    prefixes: Sequence[str],
    manage_all: bool,
    now: datetime,
) -> str:
    """A hooks.yaml (version 1) declaring one entry per hookUrl of `hooks`.

    With `prefixes`, only hooks whose url starts with one of them are imported and the file
    owns those prefixes; with `manage_all` it owns the whole account; with neither it owns only
    the urls it declares.
    """
    imported = [h for h in hooks if not prefixes or h.hook_url.startswith(tuple(prefixes))]
    by_url: dict[str, list[Hook]] = {}
    for hook in sorted(imported, key=lambda h: (h.hook_url, h.event_key, h.key)):
        by_url.setdefault(hook.hook_url, []).append(hook)

    lines = [
        f"# Imported by `hookctl import` on {now.isoformat(timespec='seconds')}",
        f"# from {_comment(_without_credentials(api_url))}",
        "",
        "version: 1",
        "",
        "account:",
        "  credentials:",
        "    api_key_env: KEAP_API_KEY",
    ]
    if manage_all:
        lines += ["", "ownership:", "  all: true"]
    elif prefixes:
        lines += ["", "ownership:", "  url_prefixes:"]
        lines += [f"    - {_quote(prefix)}" for prefix in prefixes]
    lines += ["", "hooks:" if by_url else "hooks: []"]

    taken: set[str] = set()
    for url, url_hooks in by_url.items():
        name = _unique(_name(url), taken)
        lines.append("")
        # A pair listed several times (Keap allows duplicates) is one event; the planner
        # deletes the extra copies. Status comments describe every copy that is not Verified.
        lines += [
            f"  # {_comment(h.event_key)}: {h.status} (key {_comment(h.key)})"
            for h in url_hooks
            if h.status != "Verified"
        ]
        events = sorted({h.event_key for h in url_hooks})
        lines += [
            f"  - name: {_quote(name)}",
            f"    url: {_quote(url)}",
            "    events: [" + ", ".join(_quote(event) for event in events) + "]",
        ]
    return "\n".join(lines) + "\n"


def _name(url: str) -> str:
    parts = urlsplit(url)
    slug = _NOT_NAME.sub("-", f"{parts.hostname or ''}{parts.path}".lower()).strip("-")
    return slug[:_NAME_MAX].rstrip("-") or "hook"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = name[: _NAME_MAX - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host, query="", fragment="").geturl()


def _quote(value: str) -> str:
    # A JSON string is a YAML double-quoted scalar, but JSON's surrogate-pair escapes are not
    # valid YAML: keep other characters literal and escape only what YAML cannot print. `$` is
    # doubled because hooks.yaml interpolates ${VAR} in every string and `$$` is a dollar.
    text = json.dumps(value.replace("$", "$$"), ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _comment(text: str) -> str:
    # A newline in a live value must not end the comment and inject YAML.
    return json.dumps(text)[1:-1]
