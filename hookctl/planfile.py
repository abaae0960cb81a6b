"""Saved plans (`hookctl plan --out FILE`), applied later exactly as reviewed, Terraform-style.

A plan file is the JSON plan of schemas/plan.schema.json plus what apply needs to refuse a plan
that no longer fits: the digest of the config and a fingerprint of the live subscriptions it
was made against. A checksum over the content makes hand edits fail loudly. It is an integrity
check, not a signature: whoever can edit the file can recompute it, but no one does that by
accident, and an accident is what it guards against.

Plan files hold no secrets: the inputs hold none (credentials are environment variable names,
and never reach the planner), and `write` refuses an API url carrying credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from hookctl import __version__
from hookctl.errors import PlanError, StalePlanError
from hookctl.models import Hook, Safety, schema_text
from hookctl.planner import Plan, change_from_dict, hook_from_dict, hook_to_dict
from hookctl.render import JSON_FORMAT_VERSION, plan_json

# A plan over 20,000 subscriptions is about 10 MB; anything far larger is not ours.
MAX_BYTES = 200 * 1024 * 1024

PathArg: TypeAlias = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A plan read back from a file, with what it was made against."""

    plan: Plan
    config_digest: str
    live_fingerprint: str
    source: str
    api_url: str
    account: str
    hookctl_version: str
    created_at: str
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
    document: dict[str, Any] = {
        **plan_json(plan),
        "hookctl_version": __version__,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": source,
        "account": account,
        "api_url": api_url,
        "config_digest": config_digest,
        "live_fingerprint": live_fingerprint,
        "unchanged": [hook_to_dict(hook) for hook in plan.unchanged],
        "managed_count": plan.managed_count,
        "declared_count": plan.declared_count,
        "safety": {
            "min_existing": plan.safety.min_existing,
            "max_update_ratio": plan.safety.max_update_ratio,
            "max_delete_ratio": plan.safety.max_delete_ratio,
        },
    }
    document["checksum"] = _checksum(document)
    _write_atomically(target, json.dumps(document, indent=2) + "\n")


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
    _check_schema(name, document)
    try:
        plan = Plan(
            changes=tuple(change_from_dict(change) for change in document["changes"]),
            unchanged=tuple(hook_from_dict(hook) for hook in document["unchanged"]),
            unmanaged=tuple(hook_from_dict(hook) for hook in document["unmanaged"]),
            managed_count=document["managed_count"],
            declared_count=document["declared_count"],
            safety=Safety(**document["safety"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{name}: not a valid plan file: {exc}") from None
    if plan.summary() != document["summary"]:
        raise PlanError(f"{name}: not a valid plan file: its summary does not match its changes")
    if fingerprint(plan.live_hooks()) != document["live_fingerprint"]:
        raise PlanError(
            f"{name}: not a valid plan file: its changes do not match its live fingerprint"
        )
    return SavedPlan(
        plan=plan,
        config_digest=document["config_digest"],
        live_fingerprint=document["live_fingerprint"],
        source=document["source"],
        api_url=document["api_url"],
        # Plans saved before accounts existed were made for the file's only account.
        account=document.get("account", "default"),
        hookctl_version=document["hookctl_version"],
        created_at=document["created_at"],
        path=name,
    )


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
    old = {hook.key: hook for hook in before}
    new = {hook.key: hook for hook in after}
    gone = [key for key in old if key not in new]
    added = [key for key in new if key not in old]
    changed = [
        f"{key} {field} {a} -> {b}"
        for key, hook in new.items()
        if key in old and hook != old[key]
        for field, a, b in (
            ("eventKey", old[key].event_key, hook.event_key),
            ("hookUrl", old[key].hook_url, hook.hook_url),
            ("status", old[key].status, hook.status),
        )
        if a != b
    ]

    def some(items: list[str]) -> str:
        more = f", and {len(items) - examples} more" if len(items) > examples else ""
        return ", ".join(items[:examples]) + more

    parts = [
        f"{label} {some(items)}"
        for label, items in (("gone:", gone), ("new:", added), ("changed:", changed))
        if items
    ]
    return "; ".join(parts) or "the same keys listed twice"


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
    if version > JSON_FORMAT_VERSION:
        writer = document.get("hookctl_version")
        by = (
            f"hookctl {writer}"
            if isinstance(writer, str) and len(writer) <= 40
            else "a newer hookctl"
        )
        raise PlanError(
            f"{name}: written by {by} in plan format {version}; this hookctl ({__version__}) "
            f"reads format {JSON_FORMAT_VERSION}: upgrade hookctl or make the plan again"
        )


def _check_schema(name: str, document: Mapping[str, Any]) -> None:
    import jsonschema  # deferred: it is only needed here, and slow to import

    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise PlanError(f"{name}: not a valid plan file: {where}: {error.message[:200]}")


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    text = schema_text("plan.schema.json")
    return jsonschema.Draft202012Validator(json.loads(text))


def _canonical(value: Any) -> bytes:
    # ensure_ascii: any string Keap sends (even a lone surrogate) encodes the same way.
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("ascii")


def _checksum(document: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_canonical(document)).hexdigest()


def _write_atomically(target: str, text: str) -> None:
    try:
        # mkstemp creates the file 0600 whatever the umask, and os.replace keeps that mode.
        fd, temp = tempfile.mkstemp(
            dir=os.path.dirname(os.path.abspath(target)),
            prefix=f".{os.path.basename(target)}.",
            suffix=".tmp",
        )
    except OSError as exc:
        raise PlanError(f"{target}: cannot write the plan file: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise PlanError(f"{target}: cannot write the plan file: {exc.strerror}") from None
        raise
