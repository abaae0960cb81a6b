"""`hookctl import`: write a hooks.yaml that adopts what a live account already has.

Pure: takes the listed hooks and returns the document's text, so the round trip (import, then
plan shows no change but verifies and the deletion of duplicate copies) can be tested without
touching the file system or the network.

Hook urls are treated as credentials-bearing (receivers commonly authenticate Keap by a token in
the query), and the file is meant for git: every query value, and a fragment, is written as a
``${VAR}`` placeholder, and the values stay in memory, for the caller to check the file with.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from hookctl.domain.models import DEFAULT_API_URL, Hook, Ownership, keeper, key_order
from hookctl.domain.platforms import platform_of
from hookctl.domain.urls import UrlProblem, parse_url, public_url
from hookctl.errors import HookctlError

__all__ = [
    "HooksFile",
    "ImportOptions",
    "Placeholder",
    "entry_name",
    "entry_names",
    "to_yaml",
    "unique_name",
    "url_problem",
    "url_template",
    "variable_scope",
]

_NAME_MAX = 100
_URL_MAX = 2048  # the schema's maxLength for urls
# Starting with a letter rules out YAML's numbers; these words are its booleans and null.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null"})
_NOT_NAME = re.compile(r"[^a-z0-9]+")
# What a YAML double-quoted scalar cannot hold literally and json.dumps leaves alone: characters
# outside YAML's printable set, and NEL and the Unicode separators, which YAML folds as breaks.
_NOT_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")
_NOT_VARIABLE = re.compile(r"[^A-Z0-9]+")
_VARIABLE_MAX = 120


@dataclass(frozen=True)
class Placeholder:
    """A `${NAME}` that the written file holds in place of a query value of a live url."""

    name: str
    # A subscription whose url holds the value (`hookctl hooks get KEY --reveal`), escaped as
    # in the file's comments: it comes from Keap and is shown on a terminal.
    key: str
    value: str = field(repr=False)  # the live value: kept in memory, never written or shown


@dataclass(frozen=True)
class HooksFile:
    """The text of an imported hooks file and the placeholders it holds."""

    text: str
    placeholders: tuple[Placeholder, ...] = ()

    @property
    def env(self) -> dict[str, str]:
        """The variables set to the live values: with them the file declares the live urls."""
        return {p.name: p.value for p in self.placeholders}


@dataclass(frozen=True)
class ImportOptions:
    """What `hookctl import` is asked for, besides the hooks: where they came from and what the
    written file owns and names."""

    api_url: str
    now: datetime
    # Only urls under these, which the file then owns.
    prefixes: tuple[str, ...] = ()
    # The file owns the whole account, integration platforms' hooks included.
    manage_all: bool = False
    # The variable the import's credential came from (never a value): the access token's if
    # given, else the API key's.
    api_key_env: str = "KEAP_API_KEY"
    access_token_env: str | None = None
    # Declare `accounts:` with this one name instead of `account:`.
    account: str | None = None
    # The editor modeline's schema, as its first line.
    schema: str | None = None
    # What the placeholders' names start with after HOOK_, so that the files of several
    # accounts, checked and planned in one run, never ask for one variable with two values
    # (variable_scope gives it: the account's name, or the file's).
    scope: str | None = None


def to_yaml(hooks: Sequence[Hook], options: ImportOptions) -> HooksFile:
    """A hooks.yaml (version 1) declaring one entry per hookUrl of `hooks`.

    With `prefixes`, only hooks whose url is under one of them (as `Ownership.manages` decides
    for the file's `url_prefixes`) are imported and the file owns those prefixes; with
    `manage_all` it owns the whole account; with neither it owns only the urls it declares.
    With neither, a subscription of a known integration platform (domain.platforms) is not
    declared: its host goes to `ownership.ignore`, with a comment naming the platform.
    Entries are named after the part of their url that tells them apart (entry_names).
    Query values (and fragments) of the urls are written as placeholders, each named after
    its entry and parameter; the result holds their live values, for the caller to load the
    file with.

    Raises HookctlError when a live url that hooks.yaml cannot declare (one carrying a
    password, say) would be managed by the written file, because the first apply would delete
    it; outside the managed set such hooks are left out with a comment giving their keys.
    """
    prefixes = list(dict.fromkeys(options.prefixes))
    manage_all = options.manage_all
    if manage_all and prefixes:
        raise HookctlError("--all and --prefix exclude each other: --all owns every url")
    for prefix in prefixes:
        problem = url_problem(prefix) or (
            "must not hold a query or fragment: it would be written into the file, which "
            "holds no query values"
            if any(c in prefix for c in "?#")
            else None
        )
        if problem:
            raise HookctlError(f"--prefix {_comment(public_url(prefix))}: {problem}")
    # What the written file's ownership section will own, by the rule ownership follows.
    owned = Ownership(url_prefixes=tuple(prefixes))
    chosen = [h for h in hooks if not prefixes or owned.manages(h.hook_url)]
    ignored: dict[str, str] = {}  # ignore glob -> the platform's name, in url order
    # Under --prefix the file owns only what the prefixes name, so a platform's url is
    # declared only when a prefix asks for it, and needs no ignore otherwise.
    if not manage_all and not prefixes:
        own = []
        for hook in sorted(chosen, key=lambda h: h.hook_url):
            platform = platform_of(hook.hook_url)
            if platform is None:
                own.append(hook)
            else:
                ignored.setdefault(f"https://{platform[1]}/*", platform[0].name)
        chosen = own
    by_url: dict[str, list[Hook]] = {}
    left_out: dict[str, list[str]] = {}  # reason -> keys
    for hook in sorted(chosen, key=lambda h: (h.hook_url, h.event_key, key_order(h.key))):
        problem = url_problem(hook.hook_url)
        if problem:
            left_out.setdefault(problem, []).append(hook.key)
        else:
            by_url.setdefault(hook.hook_url, []).append(hook)
    if left_out and (manage_all or prefixes):
        # Under --prefix they were chosen because the prefix owns them.
        problems = "; ".join(
            f"{_count_keys(keys)}: the url {why}" for why, keys in left_out.items()
        )
        raise HookctlError(
            f"cannot import: hooks.yaml cannot declare these subscriptions, and the file would "
            f"own them, so the first apply would delete them ({problems}); import without "
            f"{'--all' if manage_all else 'a --prefix that covers them'}"
        )

    schema, api_url = options.schema, options.api_url
    lines = [f"# yaml-language-server: $schema={_comment(schema)}"] if schema else []
    lines += [
        f"# Imported by `hookctl import` on {options.now.isoformat(timespec='seconds')}",
        f"# from {_comment(public_url(api_url))}",
        "# Comments above an entry name its subscriptions that were not Verified or were",
        "# duplicated then; `hookctl plan` on this file shows what apply would do about them.",
        "",
        "version: 1",
        "",
    ]
    indent = "  "
    account, access_token_env = options.account, options.access_token_env
    if account is None:
        lines.append("account:")
    else:
        lines += ["accounts:", f"  {_plain_or_quoted(account)}:"]
        indent = "    "
    if _declarable_api_url(api_url):
        # The file adopts this account, so a plan without --api-url must not go elsewhere.
        lines.append(f"{indent}api_url: {_quote(api_url)}")
    credential = (
        f"access_token_env: {_plain_or_quoted(access_token_env)}"
        if access_token_env
        else f"api_key_env: {_plain_or_quoted(options.api_key_env)}"
    )
    lines += [f"{indent}credentials:", f"{indent}  {credential}"]
    if manage_all:
        lines += ["", "ownership:", "  all: true"]
    elif prefixes or ignored:
        lines += ["", "ownership:"]
    if prefixes and not manage_all:
        lines += ["  url_prefixes:"]
        lines += [f"    - {_quote(prefix)}" for prefix in prefixes]
    if ignored:
        lines += [
            "  # Integration platforms' subscriptions: theirs to change, never hookctl's",
            "  # (`hookctl import --all` declares them too).",
            "  ignore:",
        ]
        lines += [f"    - {_quote(glob)}  # {name}" for glob, name in ignored.items()]
    lines += [""]
    lines += [
        f"# Not imported ({_count_keys(keys)}): the url {why}; hookctl leaves "
        f"{'it' if len(keys) == 1 else 'them'} alone."
        for why, keys in left_out.items()
    ]
    lines.append("hooks:" if by_url else "hooks: []")

    taken: set[str] = set()
    variables: set[str] = set()
    placeholders: list[Placeholder] = []
    names = entry_names(list(by_url), prefixes)
    for url, url_hooks in by_url.items():
        name = unique_name(names[url], taken)
        key = min((h.key for h in url_hooks), key=key_order)
        template, found = url_template(url, name, key, variables, options.scope)
        placeholders += found
        lines.append("")
        lines += [f"  # {_comment(note)}" for note in _notes(url_hooks)]
        events = sorted({h.event_key for h in url_hooks})
        lines += [
            f"  - name: {_plain_or_quoted(name)}",
            f"    url: {_quote_escaped(template)}",
            "    events: [" + ", ".join(_plain_or_quoted(event) for event in events) + "]",
        ]
    return HooksFile("\n".join(lines) + "\n", tuple(placeholders))


def url_template(
    url: str, entry: str, key: str, taken: set[str], scope: str | None = None
) -> tuple[str, list[Placeholder]]:
    """`url` as hooks.yaml's interpolation reads it back: `$` doubled, and each query value and
    the fragment a `${VAR}` placeholder (those that hookctl.domain.urls.mask_url hides when it shows
    a url), named HOOK_<SCOPE>_<ENTRY>_<PART>. The names are made unique against `taken`, which
    they are added to."""
    placeholders: list[Placeholder] = []
    owner = f"{scope}_{entry}" if scope else entry

    def placeholder(part: str, value: str) -> str:
        variable = _unique_variable(owner, part, taken)
        placeholders.append(Placeholder(variable, _comment(key), value))
        return "${" + variable + "}"

    rest, hashed, fragment = url.partition("#")
    base, asked, query = rest.partition("?")
    text = _dollars(base)
    if asked:
        items = []
        for item in query.split("&"):
            parameter, eq, value = item.partition("=")
            if eq and value:
                items.append(f"{_dollars(parameter)}={placeholder(parameter, value)}")
            elif not eq and parameter:  # `?TOKEN`: the whole item may be the secret
                items.append(placeholder("query", parameter))
            else:
                items.append(_dollars(item))
        text += "?" + "&".join(items)
    if hashed:
        text += "#" + (placeholder("fragment", fragment) if fragment else "")
    return text, placeholders


def variable_scope(account: str | None, path: str) -> str | None:
    """What the placeholders of a file for `account` written to `path` are scoped by: the
    account's name when it has one, else the file's name (clients/acme.yaml: acme), except
    hooks.yaml's, a project's one file."""
    if account and account != "default":
        return account
    stem = os.path.basename(path).rsplit(".", 1)[0] if path not in ("", "<stdout>") else ""
    return stem if stem and stem != "hooks" else None


def _unique_variable(entry: str, part: str, taken: set[str]) -> str:
    """HOOK_<ENTRY>_<PARAMETER> in the letters hooks.yaml allows in a variable name (A-Z, 0-9,
    _), bounded in length, with a number added when the file already uses the name."""
    words = [_NOT_VARIABLE.sub("_", text.upper()).strip("_") for text in (entry, part)]
    name = "_".join(["HOOK", *(w for w in (words[0][:80], words[1][:30] or "VALUE") if w)])
    name = re.sub("_+", "_", name)[:_VARIABLE_MAX].rstrip("_")
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def _notes(url_hooks: list[Hook]) -> list[str]:
    """What a plan will do about this url's live copies, in the planner's own terms: of
    several copies of a pair it keeps the Verified one, else the oldest key, and deletes the
    rest; the kept copy is verified when it is not Verified."""
    by_event: dict[str, list[Hook]] = {}
    for hook in url_hooks:  # in key order within each event
        by_event.setdefault(hook.event_key, []).append(hook)
    notes = []
    for event, copies in by_event.items():
        kept = keeper(copies)
        if kept.status != "Verified":
            notes.append(f"{event}: {kept.status} (key {kept.key}); apply verifies it")
        if len(copies) > 1:
            others = ", ".join(h.key for h in copies if h is not kept)
            notes.append(
                f"{event}: {len(copies)} copies; apply keeps key {kept.key}, deletes {others}"
            )
    return notes


def _count_keys(keys: list[str]) -> str:
    return ("key " if len(keys) == 1 else "keys ") + ", ".join(_comment(k) for k in keys)


def entry_name(url: str) -> str:
    """A name for the entry of `url` alone: its host and path, in the letters names allow."""
    parts = urlsplit(url)
    return _slug(f"{parts.hostname or ''}{parts.path}")


def entry_names(urls: Sequence[str], prefixes: Sequence[str] = ()) -> dict[str, str]:
    """A short name for each url's entry, from the part of it that tells it apart: the path
    under the `prefixes` one that owns it, else under what all the urls share (host and path
    segments), keeping the last segment at least. Names may repeat (unique_name numbers
    them); the same urls always get the same names."""
    split = {url: _segments(url) for url in urls}
    common = _common([s for s in split.values()])
    names: dict[str, str] = {}
    owner = Ownership(url_prefixes=tuple(prefixes))
    for url, segments in split.items():
        rule = owner.why(url)  # the prefix that owns the url, if one does
        skip = len(_segments(rule.pattern)) if rule is not None else common
        rest = segments[min(skip, len(segments) - 1) :]
        names[url] = _slug("-".join(rest))
    return names


def _segments(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return [host, *(segment for segment in parts.path.split("/") if segment)]


def _common(all_segments: list[list[str]]) -> int:
    if not all_segments:
        return 0
    first, n = all_segments[0], 0
    while n < len(first) and all(len(s) > n and s[n] == first[n] for s in all_segments):
        n += 1
    return n


def _slug(text: str) -> str:
    slug = _NOT_NAME.sub("-", text.lower()).strip("-")
    return slug[:_NAME_MAX].rstrip("-") or "hook"


def unique_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = name[: _NAME_MAX - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def url_problem(url: str) -> str | None:
    """Why hooks.yaml cannot hold `url` as a url, or None. The loader's own check, plus the
    two the schema adds before it (a case-sensitive scheme, and a length bound)."""
    if not url.startswith(("http://", "https://")):
        return "must be an absolute http:// or https:// url"
    if len(url) > _URL_MAX:
        return f"is longer than {_URL_MAX} characters"
    parts = parse_url(url)
    return parts.reason if isinstance(parts, UrlProblem) else None


def _declarable_api_url(api_url: str) -> bool:
    # A query or fragment may hold a credential, and the file is meant for git.
    return (
        api_url.rstrip("/") != DEFAULT_API_URL.rstrip("/")
        and not url_problem(api_url)
        and not any(c in api_url for c in "?#")
    )


def _plain_or_quoted(value: str) -> str:
    """Names and event keys as people write them (contact.add), quoted when YAML would read
    them as something else (a number, a boolean, null) or they hold anything unusual."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return _quote(value)


def _quote(value: str) -> str:
    return _quote_escaped(_dollars(value))


def _dollars(value: str) -> str:
    # hooks.yaml interpolates ${VAR} in every string, and `$$` is a dollar.
    return value.replace("$", "$$")


def _quote_escaped(text: str) -> str:
    """`text`, whose dollars are already as interpolation reads them, as a YAML string."""
    # A JSON string is a YAML double-quoted scalar, but JSON's surrogate-pair escapes are not
    # valid YAML: keep other characters literal and escape only what YAML cannot print.
    quoted = json.dumps(text, ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _comment(text: str) -> str:
    # A newline in a live value must not end the comment and inject YAML.
    return json.dumps(text)[1:-1]
