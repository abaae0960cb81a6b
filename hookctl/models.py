"""The domain: what Keap has (Hook), what the user wants (Subscription, DesiredState).

Everything here is an immutable value; no I/O.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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


def schema_text(name: str) -> str:
    """A JSON Schema from schemas/, as installed (hookctl.schemas) or beside a source checkout."""
    from importlib.resources import files

    try:
        return (files("hookctl.schemas") / name).read_text(encoding="utf-8")
    except ModuleNotFoundError:
        # Run from a checkout (`python -m hookctl` in the repository), where schemas/ is not
        # inside the package directory; an installed hookctl always has hookctl.schemas.
        return (Path(__file__).resolve().parents[1] / "schemas" / name).read_text(encoding="utf-8")


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
class Ownership:
    """Which live subscriptions hookctl may change or delete.

    Without an `ownership` section only declared urls are managed, so by default nothing
    another integration made (Zapier and the like) is ever touched.
    """

    declared_urls: frozenset[str] = frozenset()
    url_prefixes: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    all: bool = False

    def ignores(self, hook_url: str) -> bool:
        return any(fnmatch.fnmatchcase(hook_url, glob) for glob in self.ignore)

    def manages(self, hook_url: str) -> bool:
        if self.ignores(hook_url):
            return False
        return (
            self.all
            or hook_url in self.declared_urls
            or any(hook_url.startswith(prefix) for prefix in self.url_prefixes)
        )


@dataclass(frozen=True, slots=True)
class Safety:
    """octoDNS-style guard rails against mass changes (overridable in hooks.yaml)."""

    min_existing: int = 10
    max_update_ratio: float = 0.3
    max_delete_ratio: float = 0.3


@dataclass(frozen=True, slots=True)
class Account:
    """Where and as whom to talk to Keap. Credentials are environment variable *names*."""

    name: str = "default"
    api_url: str | None = None
    api_key_env: str | None = None
    access_token_env: str | None = None


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What a hooks.yaml asks for, after interpolation and wildcard expansion."""

    subscriptions: frozenset[Subscription]
    ownership: Ownership
    account: Account = field(default_factory=Account)
    safety: Safety = field(default_factory=Safety)
    source: str = "hooks.yaml"
    digest: str = ""
