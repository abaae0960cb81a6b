"""The domain: what Keap has (Hook), what the user wants (Subscription, DesiredState).

Everything here is an immutable value; no I/O.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from hookctl.domain.urls import under_prefix

Status = Literal["Unverified", "Verified", "Inactive"]
STATUSES: tuple[Status, ...] = ("Unverified", "Verified", "Inactive")

DEFAULT_API_URL = "https://api.infusionsoft.com/crm/rest/v1"

# GET /hooks/event_keys as KEAP.md lists it; used by `--offline` and by the sandbox.
KNOWN_EVENT_KEYS: tuple[str, ...] = tuple(
    f"{noun}.{verb}"
    for noun, verbs in (
        ("appointment", "add delete edit"),
        ("company", "add delete edit"),
        ("contact", "add delete edit redact"),
        ("contactGroup", "add applied delete edit removed"),
        ("invoice", "add delete edit"),
        ("invoice.payment", "add delete edit"),
        ("leadsource", "add delete edit"),
        ("note", "add delete edit"),
        ("opportunity", "add delete edit stage_move"),
        ("order", "add delete edit"),
        ("product", "add delete edit"),
        ("subscription", "add delete edit"),
        ("task", "add complete delete edit incomplete"),
        ("user", "activate add edit"),
    )
    for verb in verbs.split()
)


def parse_status(value: object) -> Status:
    """A status as Keap spells it; ValueError for anything else."""
    for status in STATUSES:
        if value == status:
            return status
    listed = ", ".join(STATUSES)
    raise ValueError(f"unknown status {str(value)[:40]!r}: status must be one of {listed}")


def key_order(key: str) -> str:
    """Sort key for Keap hook keys: integer strings numerically ("9" before "10"), then others.

    Keap's keys are integer strings, so "oldest" is the smallest number. The order is spelled
    as a string (digits' length, digits, then the key itself to order "010" and "10") rather
    than a tuple or int(): int() refuses very long strings and isdigit() accepts "²", and a
    string is an object the garbage collector does not track, which keeps sorting tens of
    thousands of hooks cheap.
    """
    if key.isascii() and key.isdigit():
        digits = key.lstrip("0")
        return f"0{len(digits):010d}{digits} {key}"
    return f"1{key}"


def is_event_glob(event: str) -> bool:
    return "*" in event or "?" in event


def event_glob_matches(pattern: str, event_key: str) -> bool:
    """hooks.yaml's event wildcards: `*` and `?` stay within one dot-separated segment, a `**`
    segment spans one or more segments. Matched segment by segment without regular expressions,
    so the time is bounded by the lengths' product whatever the pattern (no backtracking)."""
    return _glob(pattern)(event_key)


@lru_cache(maxsize=256)
def _glob(pattern: str) -> _EventGlob:
    return _EventGlob(tuple(pattern.split(".")))


class _EventGlob:
    __slots__ = ("segments",)

    def __init__(self, segments: tuple[str, ...]) -> None:
        self.segments = segments

    def __call__(self, event_key: str) -> bool:
        parts = event_key.split(".")
        reachable = {0}  # how many of the key's segments the pattern so far can consume
        for segment in self.segments:
            following: set[int] = set()
            for start in reachable:
                if segment == "**":
                    for end in range(start + 1, len(parts) + 1):
                        if not parts[end - 1]:
                            break
                        following.add(end)
                elif start < len(parts) and _segment_matches(segment, parts[start]):
                    following.add(start + 1)
            if not following:
                return False
            reachable = following
        return len(parts) in reachable


def _segment_matches(pattern: str, text: str) -> bool:
    # The classic greedy match with one backtrack point (the last `*`): O(len * len) at worst.
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("?", text[t]) and pattern[p] != "*":
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def keeper(copies: Sequence[Hook]) -> Hook:
    """Of several live copies of one (event, url) pair, in key order, the one to keep: the
    first Verified, else the oldest. The planner deletes the others; import says so."""
    return next((hook for hook in copies if hook.status == "Verified"), copies[0])


@dataclass(frozen=True, slots=True)
class Hook:
    """A live subscription as Keap's RestHook describes it."""

    key: str
    event_key: str
    hook_url: str
    status: Status

    @property
    def pair(self) -> tuple[str, str]:
        return (self.event_key, self.hook_url)

    def to_keap(self) -> dict[str, str]:
        return {
            "key": self.key,
            "eventKey": self.event_key,
            "hookUrl": self.hook_url,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Subscription:
    """One declared (eventKey, hookUrl) pair, tagged with the hooks.yaml entry it came from."""

    event_key: str
    hook_url: str
    name: str

    @property
    def pair(self) -> tuple[str, str]:
        return (self.event_key, self.hook_url)


@dataclass(frozen=True, slots=True)
class OwnershipRule:
    """The rule of an `Ownership` that decides a url. `kind` "ignore" keeps hookctl away from
    it; the others manage it. `pattern` and `index` name the ignore glob or the url prefix
    that matched, and its place in `ownership.ignore` or `ownership.url_prefixes`."""

    kind: Literal["ignore", "all", "prefix", "declared"]
    pattern: str = ""
    index: int = 0

    @property
    def manages(self) -> bool:
        return self.kind != "ignore"


@dataclass(frozen=True, slots=True)
class Ownership:
    """Which live subscriptions hookctl may change or delete.

    Without an `ownership` section only declared urls are managed, so by default nothing
    another integration made (Zapier and the like) is ever touched.
    """

    declared_urls: frozenset[str] = frozenset()
    url_prefixes: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    all: bool = False

    def why(self, hook_url: str) -> OwnershipRule | None:
        """The rule that decides `hook_url`, the first that matches of: an `ignore` glob (it
        wins over every other), `all`, a url prefix, a declared url. None: no rule manages
        it. Every explanation of ownership (plan reasons, the loader's errors) starts here."""
        for index, glob in enumerate(self.ignore):
            if fnmatch.fnmatchcase(hook_url, glob):
                return OwnershipRule("ignore", glob, index)
        if self.all:
            return OwnershipRule("all")
        for index, prefix in enumerate(self.url_prefixes):
            if under_prefix(hook_url, prefix):
                return OwnershipRule("prefix", prefix, index)
        if hook_url in self.declared_urls:
            return OwnershipRule("declared")
        return None

    def ignores(self, hook_url: str) -> bool:
        # An ignore glob wins over every other rule (why), so no other rule needs trying.
        return any(fnmatch.fnmatchcase(hook_url, glob) for glob in self.ignore)

    def manages(self, hook_url: str) -> bool:
        rule = self.why(hook_url)
        return rule is not None and rule.manages


@dataclass(frozen=True, slots=True)
class Safety:
    """octoDNS-style guard rails against mass changes (overridable in hooks.yaml)."""

    min_existing: int = 10
    max_update_ratio: float = 0.3
    max_delete_ratio: float = 0.3
    # Entries that say `allow_url_stripping: true`: a plan may remove or empty a token their
    # live url has (otherwise refused: it would lock the receiver out).
    url_stripping: frozenset[str] = frozenset()
    # (entry, the variables its url is built with), for naming them in that refusal.
    url_variables: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class OAuthEnv:
    """The environment variables that hold an OAuth app's credentials (hookctl.keap.oauth)."""

    client_id_env: str = "KEAP_CLIENT_ID"
    client_secret_env: str = "KEAP_CLIENT_SECRET"
    refresh_token_env: str = "KEAP_REFRESH_TOKEN"
    token_file_env: str = "KEAP_TOKEN_FILE"


@dataclass(frozen=True, slots=True)
class Account:
    """Where and as whom to talk to Keap. Credentials are environment variable *names*."""

    name: str = "default"
    api_url: str | None = None
    api_key_env: str | None = None
    access_token_env: str | None = None
    oauth: OAuthEnv | None = None


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What a hooks.yaml asks for, after interpolation and wildcard expansion."""

    subscriptions: frozenset[Subscription]
    ownership: Ownership
    account: Account = field(default_factory=Account)
    safety: Safety = field(default_factory=Safety)
    source: str = "hooks.yaml"
    digest: str = ""
