"""Saved plan files (`hookctl plan --out FILE`): a record of what was reviewed, never a program.

This module is the file side: bounded reads, atomic 0600 writes, the format version, the
checksum, and whether a saved plan still describes what apply would do. The content is built
and read by hookctl/documents.py: the JSON plan plus what it was made against, a digest of the
interpolated desired state and a fingerprint of the live subscriptions.

`apply PLANFILE` makes the plan again from the file's hooks.yaml (with the environment of the
apply) and the live account, and carries that plan out only if its changes, as documents show
them, are exactly the changes the file lists, for the same account and API url. So nothing in
the file can make apply do more than the plan it makes itself: the file's changes are never
carried out, its `safety` is never read (the thresholds are hooks.yaml's and the flags'), and
its urls may be masked, since the real ones come from hooks.yaml and the environment.

The checksum over the content detects accidents (a truncated file, a stray edit). It is not a
signature, and no longer needs to be: an edit sealed with a recomputed checksum can get the file
refused, or change what a reader sees (`safety`, `created_at`), never what apply does. What the
file does choose, when the command line does not, is which hooks file (`source`, unless `-f`)
and which of its accounts (unless `--account`) the plan is made again from.

Plan files hold no secrets: credentials are environment variable names and never reach the
planner, the desired state and the live subscriptions are stored only as HMACs keyed with the
run's fingerprint key (hookctl.domain.secrets: HOOKCTL_FINGERPRINT_KEY, else derived from the
account's credentials), so that a plan artifact cannot confirm a guess of a token, and `write`
refuses an API url carrying credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from hookctl.domain.models import Account, DesiredState, Hook, key_order
from hookctl.domain.planner import Plan
from hookctl.domain.secrets import FINGERPRINT_KEY_ENV, derive_key, keyed_digest
from hookctl.errors import PlanError, StalePlanError
from hookctl.formats.documents import (
    SAVED_PLAN_VERSION,
    SAVED_PLANS_VERSION,
    SavedPlanBody,
    hook_to_dict,
    plan_document,
    read_saved_plan,
    read_saved_plans,
    saved_plan_document,
    saved_plans_document,
)

# Text quoted from a plan file (anyone's) as an error shows it: one escaped line, cut.
from hookctl.formats.text import cell
from hookctl.system.files import TooLarge, read_bounded_text, write_atomically
from hookctl.version import __version__

_MASK = re.compile(rb"\*\*\*\([0-9a-f]{6}\)")
# What a digest of secret-derived data starts with: an HMAC-SHA256, never a plain sha256.
DIGEST_PREFIX = "hmac-sha256:"
# A plan over 20,000 subscriptions is about 10 MB; anything far larger is not ours.
MAX_BYTES = 200 * 1024 * 1024

PathArg: TypeAlias = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class SavedPlan(SavedPlanBody):
    """One account's plan read back from a file, with what it was made against, the file's
    name and the account's label in the run that saved it."""

    path: str
    label: str = ""


def digest_key(account: Account | None, env: Mapping[str, str] | None = None) -> bytes | None:
    """The key of an account's saved-plan digests: HOOKCTL_FINGERPRINT_KEY, else derived from
    the account's own credential (the variables its `credentials` name, else KEAP_API_KEY,
    KEAP_ACCESS_TOKEN or the OAuth app's client secret), so that plan and apply agree wherever
    they run; None (the run's key) when the environment holds none of them."""
    env = os.environ if env is None else env
    if account is None:
        return None
    explicit = env.get(FINGERPRINT_KEY_ENV)
    if explicit:
        return derive_key(b"explicit\0" + explicit.encode("utf-8", "surrogatepass"))
    names = [account.api_key_env, account.access_token_env]
    if account.oauth is not None:
        names.append(account.oauth.client_secret_env)
    if not any(names):
        names = ["KEAP_API_KEY", "KEAP_ACCESS_TOKEN", "KEAP_CLIENT_SECRET"]
    found = [f"{name}={env[name]}" for name in names if name and env.get(name)]
    if not found:
        return None
    return derive_key("\0".join(found).encode("utf-8", "surrogatepass"))


def desired_digest(desired: DesiredState) -> str:
    """A keyed hash over the canonical JSON of what a hooks file asks of one account after ${VAR}
    interpolation: its subscriptions, ownership, safety and account settings, and the digest
    of the file's bytes. A variable changed between plan and apply (a token in a url) makes a
    saved plan stale; only this HMAC is stored, never the values, and never a plain hash that
    a guess of a value could be checked against."""
    ownership = desired.ownership
    state = {
        "file": desired.digest,
        "subscriptions": sorted(
            [sub.event_key, sub.hook_url, sub.name] for sub in desired.subscriptions
        ),
        "ownership": {
            "declared_urls": sorted(ownership.declared_urls),
            "url_prefixes": list(ownership.url_prefixes),
            "ignore": list(ownership.ignore),
            "all": ownership.all,
        },
        "safety": [
            desired.safety.min_existing,
            desired.safety.max_update_ratio,
            desired.safety.max_delete_ratio,
        ],
        "account": [
            desired.account.name,
            desired.account.api_url,
            desired.account.api_key_env,
            desired.account.access_token_env,
        ],
    }
    return DIGEST_PREFIX + keyed_digest(_canonical(state), digest_key(desired.account))


def fingerprint(live: Iterable[Hook], account: Account | None = None) -> str:
    """A keyed hash over the live subscriptions (key, eventKey, hookUrl, status),
    order-independent: hook urls carry tokens. Keyed for `account` (see digest_key)."""
    rows = sorted((hook.key, hook.event_key, hook.hook_url, hook.status) for hook in live)
    return DIGEST_PREFIX + keyed_digest(_canonical(rows), digest_key(account))


@dataclass(frozen=True)
class SavedRun:
    """A plan file as apply reads it: the saved plan of each account, in the run's order, and
    whether the file covers several accounts (format 3) or one (format 2)."""

    path: str
    plans: tuple[SavedPlan, ...]
    several: bool

    def plan_for(self, label: str) -> SavedPlan | None:
        return self._by_label.get(label)

    @cached_property
    def _by_label(self) -> dict[str, SavedPlan]:
        # A fleet of thousands is looked up once per account: by label, not by scanning.
        return {plan.label: plan for plan in self.plans}


@dataclass(frozen=True)
class ToSave:
    """One account's plan to save, with what it was made against (see write)."""

    label: str
    plan: Plan
    config_digest: str
    live_fingerprint: str
    source: str
    api_url: str
    account: str
    # The account whose key the digests were made with (see digest_key).
    credentials: Account | None = None


def write(
    path: PathArg,
    plan: Plan,
    *,
    config_digest: str,
    live_fingerprint: str,
    source: str,
    api_url: str,
    account: str = "default",
    credentials: Account | None = None,
) -> None:
    """Write `plan` to `path` (mode 0600, atomically: a reader sees the old file or the new);
    `credentials` is the account whose key the digests were made with (see digest_key).

    `live_fingerprint` must be `fingerprint(live)` of the list the plan was made from; a
    mismatch is a caller bug and raises ValueError rather than saving a plan that apply
    would then refuse.
    """
    write_one(
        path,
        ToSave(
            account, plan, config_digest, live_fingerprint, source, api_url, account, credentials
        ),
    )


def write_one(path: PathArg, one: ToSave) -> None:
    """Write one account's plan (format 2), as `write` does from its parts."""
    document = _body(os.fspath(path), one)
    document["checksum"] = _checksum(document)
    _write(path, document)


def write_all(path: PathArg, accounts: Sequence[ToSave]) -> None:
    """Write the plans of a run over several accounts to one file (format 3), as `write` does
    one: apply then applies each account whose plan is still exactly its saved one."""
    name = os.fspath(path)
    document = saved_plans_document([(each.label, _body(name, each)) for each in accounts])
    document["checksum"] = _checksum(document)
    _write(path, document)


def _body(name: str, each: ToSave) -> dict[str, Any]:
    parts = urlsplit(each.api_url)
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        # The url itself is left out of the message: it may be the very secret.
        raise PlanError(
            f"{name}: not written: the API url holds credentials or a query string; "
            "pass credentials through KEAP_API_KEY or KEAP_ACCESS_TOKEN instead"
        )
    if each.live_fingerprint != fingerprint(each.plan.live_hooks(), each.credentials):
        raise ValueError("live_fingerprint is not the fingerprint of the hooks this plan saw")
    return saved_plan_document(
        each.plan,
        config_digest=each.config_digest,
        live_fingerprint=each.live_fingerprint,
        source=each.source,
        api_url=each.api_url,
        account=each.account,
    )


def _write(path: PathArg, document: Mapping[str, Any]) -> None:
    write_atomically(
        os.fspath(path),
        json.dumps(document, indent=2) + "\n",
        mode=0o600,
        what="the plan file",
        error=PlanError,
    )


def read(path: PathArg) -> SavedPlan:
    """Read a plan file of one account; PlanError, naming the file, if it is not one this
    hookctl wrote, or if it holds several accounts (read_run reads those).

    Checked in this order, so the message names the first thing wrong: readable, JSON, a saved
    plan of this hookctl's format, checksum intact, shape as in the schema, a summary that
    counts its changes. What it lists is not believed: ensure_fresh compares it with the plan
    apply makes.
    """
    run = read_run(path)
    if run.several:
        raise PlanError(f"{run.path}: holds the plans of {len(run.plans)} accounts")
    return run.plans[0]


def read_run(path: PathArg) -> SavedRun:
    """Read a plan file of one account (format 2) or of several (format 3), checked as `read`
    says; each account's plan is checked on its own as well."""
    name = os.fspath(path)
    document = _load_json(name)
    if not isinstance(document, dict) or "format_version" not in document:
        raise PlanError(f"{name}: not a hookctl plan file (no format_version)")
    version = _check_version(name, document)
    checksum = document.pop("checksum", None)
    if not isinstance(checksum, str):
        raise PlanError(
            f"{name}: not a saved plan (no checksum): save plans with `hookctl plan --out FILE`"
        )
    if version < SAVED_PLAN_VERSION:
        raise PlanError(
            f"{name}: made by an older hookctl (plan format {version}; this hookctl "
            f"({__version__}) reads format {SAVED_PLAN_VERSION}): plan again with "
            "`hookctl plan --out FILE`"
        )
    if checksum != _checksum(document):
        raise PlanError(
            f"{name}: the plan file was changed after hookctl wrote it (checksum mismatch); "
            "make a new plan instead of editing one"
        )
    document["checksum"] = checksum
    try:
        if version == SAVED_PLANS_VERSION:
            bodies = read_saved_plans(document)
        else:
            body = read_saved_plan(document)
            bodies = [(body.account, body)]
    except ValueError as exc:
        raise PlanError(f"{name}: not a valid plan file: {cell(str(exc))}") from None
    plans = tuple(
        SavedPlan(**{f.name: getattr(body, f.name) for f in fields(body)}, path=name, label=label)
        for label, body in bodies
    )
    return SavedRun(name, plans, several=version == SAVED_PLANS_VERSION)


def ensure_fresh(
    saved: SavedPlan,
    current: Plan,
    config_digest: str,
    live: Sequence[Hook],
    *,
    api_url: str | None = None,
    credentials: Account | None = None,
) -> None:
    """Refuse, in one line, unless `current` is the saved plan: `current` is the plan apply has
    just made from the desired state whose `desired_digest` is `config_digest` and the
    subscriptions `live`, at `api_url` (which account it is for is
    engine.selection's check).

    StalePlanError, saying what changed, when the API url, hooks.yaml (or a
    variable it uses) or the live subscriptions are not those the plan was made for; then
    PlanError, naming the first difference, when the changes the file lists are not exactly
    `current`'s, as documents show them. Apply carries out `current`, never the file's changes.
    """
    problems: list[str] = []
    if api_url is not None and api_url != saved.api_url:
        problems.append(f"it was made against {cell(saved.api_url)}, not {api_url}")
    if tuple(current.entry_patterns) != saved.entry_patterns:
        # Apply makes the plan again with the saved entry patterns; others make another plan.
        shown = " ".join(saved.entry_patterns) or "none"
        now = " ".join(current.entry_patterns) or "none"
        problems.append(f"it was made with --target {cell(shown)}, not {now}")
    if config_digest != saved.config_digest:
        problems.append(f"{cell(saved.source)} or its environment changed since it was made")
    if fingerprint(live, credentials) != saved.live_fingerprint:
        problems.append(
            "the live subscriptions changed since it was made ("
            + _describe_changes(saved.seen, [hook_to_dict(hook) for hook in live])
            + ")"
        )
    if problems:
        raise StalePlanError(
            f"{saved.path}: stale plan: {'; '.join(problems)}; run `hookctl plan` again"
        )
    difference = _difference(saved.changes, plan_document(current)["changes"])
    if difference is not None:
        made_by = (
            f" (it was made by hookctl {cell(saved.hookctl_version, 40)})"
            if saved.hookctl_version != __version__
            else ""
        )
        raise PlanError(
            f"{saved.path}: refused: {difference}{made_by}; nothing was applied: "
            "make a new plan with `hookctl plan --out` instead of editing one"
        )


def _difference(
    saved: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]
) -> str | None:
    """The first way the changes a plan file lists differ from the current plan's, for a
    person; None when they are the same changes in the same order."""
    # A masked value's fingerprint is keyed for the run that showed it, and may differ
    # between plan and apply; the urls behind it are compared by the digests already.
    saved_keys = [_MASK.sub(b"***", _canonical(change)) for change in saved]
    current_keys = [_MASK.sub(b"***", _canonical(change)) for change in current]
    if saved_keys == current_keys:
        return None
    unmatched = Counter(current_keys)
    unmatched.subtract(saved_keys)
    for change, key in zip(saved, saved_keys, strict=True):
        if unmatched[key] < 0:
            return f"the plan file lists a change the current plan does not: {_change(change)}"
    for change, key in zip(current, current_keys, strict=True):
        if unmatched[key] > 0:
            return f"the current plan has a change the plan file does not list: {_change(change)}"
    return "the plan file lists the current plan's changes in another order"


def _change(change: Mapping[str, Any]) -> str:
    """A change document in a few words: `delete #12 contact.add https://...`."""
    key = change.get("key")
    words = [str(change.get("action")), *([f"#{key}"] if key is not None else [])]
    words += [str(change.get("event_key")), str(change.get("hook_url"))]
    return cell(" ".join(words), 300)


def _describe_changes(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]], examples: int = 3
) -> str:
    """What differs between two listings of an account, as hook documents, for a person: the
    keys gone, the keys new and the fields changed, a few of each in key order and how many
    more.

    Keys gone and keys new are set differences; DeepDiff names the fields that changed in the
    records of the keys both listings hold. It is handed only the records that differ (found
    with one dict lookup each): on two whole listings of 20,000 it takes half a second to report
    one change, and when few keys are shared, recent versions report the whole listing as one
    changed value instead of item by item.
    """
    from deepdiff import DeepDiff  # deferred: slow to import, and only a stale plan needs it

    old = {hook["key"]: _record(hook) for hook in before}
    new = {hook["key"]: _record(hook) for hook in after}
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
        return ", ".join(cell(item) for item in items[:examples]) + more

    parts = [
        f"{label} {some(items)}"
        for label, items in (("gone:", gone), ("new:", added), ("changed:", changed))
        if items
    ]
    return "; ".join(parts) or "the same keys listed twice"


# Keap's names for the fields, as a person reading its API documentation knows them.
_FIELDS = ("eventKey", "hookUrl", "status")
_DOCUMENT_FIELDS = ("event_key", "hook_url", "status")


def _record(hook: Mapping[str, Any]) -> dict[str, str]:
    return {keap: hook[ours] for keap, ours in zip(_FIELDS, _DOCUMENT_FIELDS, strict=True)}


def _load_json(name: str) -> Any:
    try:
        text = read_bounded_text(name, MAX_BYTES)
    except OSError as exc:
        raise PlanError(f"{name}: cannot read the plan file: {exc.strerror}") from None
    except TooLarge as exc:
        raise PlanError(f"{name}: not a hookctl plan file ({exc})") from None
    except UnicodeDecodeError:
        raise PlanError(f"{name}: not a hookctl plan file (not UTF-8 text)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"{name}: not a hookctl plan file (not JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):
        # Numbers too long for int(), or nesting deeper than the parser allows.
        raise PlanError(f"{name}: not a hookctl plan file (unreadable JSON)") from None


def _check_version(name: str, document: Mapping[str, Any]) -> int:
    """The document's format version; PlanError if it is not one or is newer than this
    hookctl's."""
    version = document["format_version"]
    if type(version) is not int or version < 1:
        raise PlanError(f"{name}: not a hookctl plan file (format_version {str(version)[:20]!r})")
    if version > SAVED_PLANS_VERSION:
        writer = document.get("hookctl_version")
        by = (
            f"hookctl {cell(writer, 40)}"
            if isinstance(writer, str) and len(writer) <= 40
            else "a newer hookctl"
        )
        raise PlanError(
            f"{name}: written by {by} in plan format {version}; this hookctl ({__version__}) "
            f"reads formats {SAVED_PLAN_VERSION} and {SAVED_PLANS_VERSION}: upgrade hookctl "
            "or make the plan again"
        )
    return version


def _canonical(value: Any) -> bytes:
    # ensure_ascii: any string Keap sends (even a lone surrogate) encodes the same way.
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("ascii")


def _checksum(document: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_canonical(document)).hexdigest()
