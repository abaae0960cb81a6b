"""Saved plan files (`hookctl plan --out FILE`), applied later exactly as reviewed, Terraform-style.

This module is the file side: bounded reads, atomic 0600 writes, the format version, the
checksum, and whether a saved plan still fits the config and the account. The content is built
and read by hookctl/documents.py: the JSON plan plus what apply needs to refuse a plan that no
longer fits, the digest of the config and a fingerprint of the live subscriptions it was made
against. The checksum over the content makes hand edits fail loudly. It is an integrity check,
not a signature: whoever can edit the file can recompute it, but no one does that by accident,
and an accident is what it guards against.

Plan files hold no secrets: the inputs hold none (credentials are environment variable names,
and never reach the planner), and `write` refuses an API url carrying credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from hookctl import __version__
from hookctl.documents import FORMAT_VERSION, SavedPlanBody, read_saved_plan, saved_plan_document
from hookctl.errors import PlanError, StalePlanError
from hookctl.files import write_atomically
from hookctl.models import Hook, key_order
from hookctl.planner import Plan

# A plan over 20,000 subscriptions is about 10 MB; anything far larger is not ours.
MAX_BYTES = 200 * 1024 * 1024

PathArg: TypeAlias = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class SavedPlan(SavedPlanBody):
    """A plan read back from a file, with what it was made against and the file's name."""

    path: str


def fingerprint(live: Iterable[Hook]) -> str:
    """sha256 over the live subscriptions (key, eventKey, hookUrl, status), order-independent."""
    rows = sorted((hook.key, hook.event_key, hook.hook_url, hook.status) for hook in live)
    return "sha256:" + hashlib.sha256(_canonical(rows)).hexdigest()


def write(
    path: PathArg,
    plan: Plan,
    *,
    config_digest: str,
    live_fingerprint: str,
    source: str,
    api_url: str,
    account: str = "default",
) -> None:
    """Write `plan` to `path` (mode 0600, atomically: a reader sees the old file or the new).

    `live_fingerprint` must be `fingerprint(live)` of the list the plan was made from; a
    mismatch is a caller bug and raises ValueError rather than saving a plan that apply
    would then refuse.
    """
    target = os.fspath(path)
    parts = urlsplit(api_url)
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        # The url itself is left out of the message: it may be the very secret.
        raise PlanError(
            f"{target}: not written: the API url holds credentials or a query string; "
            "pass credentials through KEAP_API_KEY or KEAP_ACCESS_TOKEN instead"
        )
    if live_fingerprint != fingerprint(plan.live_hooks()):
        raise ValueError("live_fingerprint is not the fingerprint of the hooks this plan saw")
    document = saved_plan_document(
        plan,
        config_digest=config_digest,
        live_fingerprint=live_fingerprint,
        source=source,
        api_url=api_url,
        account=account,
    )
    document["checksum"] = _checksum(document)
    write_atomically(
        target,
        json.dumps(document, indent=2) + "\n",
        mode=0o600,
        what="the plan file",
        error=PlanError,
    )


def read(path: PathArg) -> SavedPlan:
    """Read a plan file; PlanError, naming the file, if it is not one this hookctl wrote.

    Checked in this order, so the message names the first thing wrong: readable, JSON, a plan
    of a known format version, checksum intact, shape as in the schema, consistent with itself.
    """
    name = os.fspath(path)
    document = _load_json(name)
    if not isinstance(document, dict) or "format_version" not in document:
        raise PlanError(f"{name}: not a hookctl plan file (no format_version)")
    _check_version(name, document)
    checksum = document.pop("checksum", None)
    if not isinstance(checksum, str):
        raise PlanError(
            f"{name}: not a saved plan (no checksum): save plans with `hookctl plan --out FILE`"
        )
    if checksum != _checksum(document):
        raise PlanError(
            f"{name}: the plan file was changed after hookctl wrote it (checksum mismatch); "
            "make a new plan instead of editing one"
        )
    document["checksum"] = checksum
    try:
        body = read_saved_plan(document)
    except ValueError as exc:
        raise PlanError(f"{name}: not a valid plan file: {exc}") from None
    if fingerprint(body.plan.live_hooks()) != body.live_fingerprint:
        raise PlanError(
            f"{name}: not a valid plan file: its changes do not match its live fingerprint"
        )
    return SavedPlan(**{f.name: getattr(body, f.name) for f in fields(body)}, path=name)


def ensure_fresh(
    saved: SavedPlan,
    config_digest: str,
    live: Sequence[Hook],
    *,
    api_url: str | None = None,
    account: str | None = None,
) -> None:
    """StalePlanError, saying what changed, unless the plan still fits the config and Keap.

    `api_url` and `account`, when given, must be those the plan was made for: two empty
    accounts have the same fingerprint, and a staging plan must not be applied to production.
    """
    problems: list[str] = []
    if account is not None and account != saved.account:
        problems.append(f"it was made for account {saved.account!r}, not {account!r}")
    if api_url is not None and api_url != saved.api_url:
        problems.append(f"it was made against {saved.api_url}, not {api_url}")
    if config_digest != saved.config_digest:
        problems.append(f"{saved.source} changed since it was made")
    if fingerprint(live) != saved.live_fingerprint:
        problems.append(
            "the live subscriptions changed since it was made ("
            + _describe_changes(saved.plan.live_hooks(), live)
            + ")"
        )
    if problems:
        raise StalePlanError(
            f"{saved.path}: stale plan: {'; '.join(problems)}; run `hookctl plan` again"
        )


def _describe_changes(before: Iterable[Hook], after: Iterable[Hook], examples: int = 3) -> str:
    """What differs between two listings of an account, for a person: the keys gone, the keys
    new and the fields changed, a few of each in key order and how many more.

    Keys gone and keys new are set differences; DeepDiff names the fields that changed in the
    records of the keys both listings hold. It is handed only the records that differ (found
    with one dict lookup each): on two whole listings of 20,000 it takes half a second to report
    one change, and when few keys are shared, recent versions report the whole listing as one
    changed value instead of item by item.
    """
    from deepdiff import DeepDiff  # deferred: slow to import, and only a stale plan needs it

    old = {hook.key: _record(hook) for hook in before}
    new = {hook.key: _record(hook) for hook in after}
    gone = sorted(old.keys() - new.keys(), key=key_order)
    added = sorted(new.keys() - old.keys(), key=key_order)
    differ = [key for key in old.keys() & new.keys() if old[key] != new[key]]
    tree = DeepDiff(
        {key: old[key] for key in differ}, {key: new[key] for key in differ}, view="tree"
    )
    fields = sorted(
        (level.path(output_format="list") for level in tree.get("values_changed", ())),
        key=lambda path: (key_order(path[0]), _FIELDS.index(path[1])),
    )
    changed = [f"{key} {field} {old[key][field]} -> {new[key][field]}" for key, field in fields]

    def some(items: list[str]) -> str:
        more = f", and {len(items) - examples} more" if len(items) > examples else ""
        return ", ".join(items[:examples]) + more

    parts = [
        f"{label} {some(items)}"
        for label, items in (("gone:", gone), ("new:", added), ("changed:", changed))
        if items
    ]
    return "; ".join(parts) or "the same keys listed twice"


# Keap's names for the fields, as a person reading its API documentation knows them.
_FIELDS = ("eventKey", "hookUrl", "status")


def _record(hook: Hook) -> dict[str, str]:
    return dict(zip(_FIELDS, (hook.event_key, hook.hook_url, hook.status), strict=True))


def _load_json(name: str) -> Any:
    try:
        with open(name, "rb") as file:
            # In slices: read(n) reserves n bytes up front, 200 MiB for a plan of a few KiB.
            # One byte past the bound is enough to know the file is too large.
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_BYTES and (chunk := file.read(min(1 << 20, MAX_BYTES + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
            raw = b"".join(chunks)
    except OSError as exc:
        raise PlanError(f"{name}: cannot read the plan file: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise PlanError(f"{name}: not a hookctl plan file (larger than {MAX_BYTES} bytes)")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanError(f"{name}: not a hookctl plan file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"{name}: not a hookctl plan file (not JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):
        # Numbers too long for int(), or nesting deeper than the parser allows.
        raise PlanError(f"{name}: not a hookctl plan file (unreadable JSON)") from None


def _check_version(name: str, document: Mapping[str, Any]) -> None:
    version = document["format_version"]
    if type(version) is not int or version < 1:
        raise PlanError(f"{name}: not a hookctl plan file (format_version {str(version)[:20]!r})")
    if version > FORMAT_VERSION:
        writer = document.get("hookctl_version")
        by = (
            f"hookctl {writer}"
            if isinstance(writer, str) and len(writer) <= 40
            else "a newer hookctl"
        )
        raise PlanError(
            f"{name}: written by {by} in plan format {version}; this hookctl ({__version__}) "
            f"reads format {FORMAT_VERSION}: upgrade hookctl or make the plan again"
        )


def _canonical(value: Any) -> bytes:
    # ensure_ascii: any string Keap sends (even a lone surrogate) encodes the same way.
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("ascii")


def _checksum(document: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_canonical(document)).hexdigest()
