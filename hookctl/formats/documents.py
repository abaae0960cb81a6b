"""Every JSON document hookctl prints, posts, saves or reads back, built and read in one place.

Each document carries `format_version` and is described by a schema in schemas/:

- the plan (`plan --format json`): plan.schema.json;
- the body of a saved plan (`plan --out`): the plan plus what it was made against, described by
  the same schema; the file around it (checksum, bounded read, atomic write) is planfile's;
- the drift report (`drift --format json`, `drift --notify`): drift.schema.json;
- the apply report (`apply --format json`): report.schema.json;
- a run over several accounts: accounts.schema.json, holding one of the above per account;
- the probe report (`probe --format json`): its shape is given in probe_document.

Hook urls carry credentials (receivers authenticate Keap by a token in the query), so every
document shows them masked (hookctl.domain.urls.mask_url: `?token=***(1f3a9c)`), urls quoted in free
text (reasons, details, errors) included; only the calls to Keap carry the real url. A saved
plan therefore holds fingerprints, not the urls: apply rebuilds those from hooks.yaml.

Building never validates (jsonschema takes seconds over a plan of 20,000 changes, and the
tests check every builder against its schema); reading a saved plan does, since a file is
input. Pure: no I/O beyond the installed schemas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hookctl.domain.models import Hook, Subscription, key_order, parse_status
from hookctl.domain.planner import ACTIONS, Change, Create, Delete, Plan, Update, Verify
from hookctl.domain.results import OUTCOMES, PROBED_ACTIONS, Declared, Probe
from hookctl.domain.urls import mask_url, public_url
from hookctl.formats.reports import drift_text
from hookctl.formats.text import mask_text
from hookctl.system.files import schema_text
from hookctl.version import __version__

if TYPE_CHECKING:
    from hookctl.domain.results import ApplyReport

FORMAT_VERSION = 1
# Every document's schema, loaded together so that one can refer to another by its $id.
SCHEMAS = (
    "plan.schema.json",
    "drift.schema.json",
    "report.schema.json",
    "accounts.schema.json",
    "saved-plans.schema.json",
    "account-list.schema.json",
)

_CHANGE_TYPES: Mapping[str, type[Change]] = {
    cls.action: cls for cls in (Create, Update, Verify, Delete)
}


# -- hooks and changes -------------------------------------------------------------------------


def hook_to_dict(hook: Hook) -> dict[str, str]:
    return {
        "key": hook.key,
        "event_key": hook.event_key,
        "hook_url": mask_url(hook.hook_url),
        "status": hook.status,
    }


def hook_from_dict(data: Mapping[str, Any]) -> Hook:
    return Hook(
        str(data["key"]),
        str(data["event_key"]),
        str(data["hook_url"]),
        parse_status(data["status"]),
    )


def change_to_dict(change: Change) -> dict[str, Any]:
    """A change as plan.schema.json's `change`: what it makes true, and the status of what it
    touches (an update also says where it came from). Urls masked, in the reason too."""
    data: dict[str, Any] = {
        "action": change.action,
        "name": change.name,
        "key": change.key,
        "event_key": change.event_key,
        "hook_url": mask_url(change.hook_url),
        "reason": mask_text(change.reason),
    }
    if change.existing is not None:
        data["status"] = change.existing.status
    if isinstance(change, Update):
        data["old_event_key"] = change.old_event_key
        data["old_hook_url"] = mask_url(change.old_hook_url)
        data["diff"] = [
            {"field": f, "old": mask_url(old), "new": mask_url(new)}
            if f == "hook_url"
            else {"field": f, "old": old, "new": new}
            for f, old, new in change.diff
        ]
    return data


def change_from_dict(data: Mapping[str, Any]) -> Change:
    """Rebuild a change from `change_to_dict`'s output; ValueError/KeyError/TypeError if bad."""
    cls = _CHANGE_TYPES.get(data["action"])
    if cls is None:
        raise ValueError(f"unknown action {str(data['action'])[:40]!r}")
    name = None if cls is Delete and data["name"] is None else str(data["name"])
    pair = (str(data["event_key"]), str(data["hook_url"]))
    existing = None
    if cls is not Create:
        # An update touched the subscription at its old pair; the others touch it where it is.
        seen = (str(data["old_event_key"]), str(data["old_hook_url"])) if cls is Update else pair
        existing = Hook(str(data["key"]), *seen, parse_status(data["status"]))
    desired = None if cls is Delete or name is None else Subscription(*pair, name)
    change = cls(name, str(data["reason"]), existing, desired)
    if isinstance(change, Update):
        diff = tuple((str(d["field"]), str(d["old"]), str(d["new"])) for d in data["diff"])
        if diff != change.diff:
            raise ValueError(
                f"the diff of the update of key {change.key} does not match its fields"
            )
    return change


# -- plans -------------------------------------------------------------------------------------


def plan_document(plan: Plan, probes: Mapping[str, Probe] | None = None) -> dict[str, Any]:
    """The plan as `hookctl plan --format json` prints it; a plan limited by --target also
    says to which entries, and which live subscriptions it left alone for that reason; with
    `probes` (plan --probe), each create, update and verify whose url was probed has a `probe`."""
    changes = [change_to_dict(change) for change in plan.changes]
    if probes:
        for change, data in zip(plan.changes, changes, strict=True):
            probe = probes.get(change.hook_url) if change.action in PROBED_ACTIONS else None
            if probe is not None:
                data["probe"] = probe_to_dict(probe)
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "changes": changes,
        "summary": plan.summary(),
        "unmanaged": [hook_to_dict(hook) for hook in plan.unmanaged],
    }
    if plan.entry_patterns:
        document["targets"] = list(plan.entry_patterns)
        document["untargeted"] = [hook_to_dict(hook) for hook in plan.left_out]
    return document


def probe_to_dict(probe: Probe) -> dict[str, Any]:
    """What a url answered to the handshake (plan.schema.json's `probe`): never the secret."""
    return {
        "outcome": probe.outcome,
        "ok": probe.ok,
        "ms": probe.milliseconds,
        "status": probe.status,
        "detail": mask_text(probe.detail),
    }


def probe_document(declared: Sequence[Declared], probes: Mapping[str, Probe]) -> dict[str, Any]:
    """`hookctl probe --format json`: every declared url probed, with the entries and accounts
    that declare it, and how many urls had each outcome."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for url in declared:
        counts[probes[url.url].outcome] += 1
    return {
        "format_version": FORMAT_VERSION,
        "ok": all(probes[url.url].ok for url in declared),
        "summary": counts,
        "probes": [
            {
                "hook_url": mask_url(url.url),
                "names": list(url.names),
                "accounts": list(url.accounts),
                **probe_to_dict(probes[url.url]),
            }
            for url in declared
        ],
    }


# A saved plan's own format: 2 lists the changes as every document shows them and a digest of
# the interpolated desired state. Apply checks a plan by making it again and comparing, which a
# format 1 file (its digest covers only the raw hooks.yaml) does not allow.
SAVED_PLAN_VERSION = 2
# The saved plan of a run over several accounts (`plan -f clients/ --out FILE`): format 3, one
# format 2 body per account under `accounts` (saved-plans.schema.json). A run of one account
# still saves format 2, which every hookctl since 0.2 reads.
SAVED_PLANS_VERSION = 3


@dataclass(frozen=True, slots=True)
class SavedPlanBody:
    """A saved plan's content: a record of what was reviewed, never a program.

    `changes` are the change documents as saved (urls as every document shows them) and `seen`
    the live subscriptions the plan was made from, as hook documents in key order. Apply makes
    the plan again and compares its documents with these; it carries out the plan it made,
    never these."""

    changes: tuple[dict[str, Any], ...]
    seen: tuple[dict[str, Any], ...]
    summary: dict[str, int]
    config_digest: str
    live_fingerprint: str
    source: str
    api_url: str
    account: str
    hookctl_version: str
    created_at: str
    # The entry patterns (--target) the plan was made with; apply makes it again with the same.
    entry_patterns: tuple[str, ...]


def saved_plan_document(
    plan: Plan,
    *,
    config_digest: str,
    live_fingerprint: str,
    source: str,
    api_url: str,
    account: str = "default",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The body of a saved plan: the plan document plus what apply needs to refuse it once it
    no longer fits. `safety` is there for the reviewer only: apply checks the thresholds of
    hooks.yaml and its flags. The caller adds the checksum."""
    made = now or datetime.now(timezone.utc)
    return {
        **plan_document(plan),
        "format_version": SAVED_PLAN_VERSION,
        "hookctl_version": __version__,
        "created_at": made.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
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


def saved_plans_document(
    bodies: Sequence[tuple[str, dict[str, Any]]], now: datetime | None = None
) -> dict[str, Any]:
    """The saved plan of several accounts: each account's label and its saved-plan body (as
    saved_plan_document builds it), in the run's order. The caller adds the checksum."""
    made = now or datetime.now(timezone.utc)
    return {
        "format_version": SAVED_PLANS_VERSION,
        "hookctl_version": __version__,
        "created_at": made.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accounts": [{"label": label, "plan": body} for label, body in bodies],
    }


def read_saved_plans(document: Mapping[str, Any]) -> list[tuple[str, SavedPlanBody]]:
    """Each account's label and body of a saved plan of several accounts, checked against
    saved-plans.schema.json, then each body as read_saved_plan reads one. ValueError, saying
    where, when anything is wrong, or when two accounts share a label."""
    check(document, "saved-plans.schema.json")
    found: list[tuple[str, SavedPlanBody]] = []
    for index, each in enumerate(document["accounts"]):
        try:
            found.append((each["label"], read_saved_plan(each["plan"])))
        except ValueError as exc:
            raise ValueError(f"accounts/{index}/plan: {exc}") from None
    labels = [label for label, _ in found]
    if len(set(labels)) != len(labels):
        raise ValueError("accounts: two accounts have one label")
    return found


def read_saved_plan(document: Mapping[str, Any]) -> SavedPlanBody:
    """The body `saved_plan_document` built, read back and checked against plan.schema.json.

    ValueError, saying what is wrong, when the document breaks the schema or its summary does
    not count its changes. Nothing else in it is believed: apply compares it with a new plan.
    """
    check(document, "plan.schema.json")
    try:
        changes = tuple(dict(change) for change in document["changes"])
        left_alone = (
            *document["unchanged"],
            *document["unmanaged"],
            *document.get("untargeted", ()),
        )
        seen = [dict(hook) for hook in left_alone]
        # The subscription each change touches, as it was (an update's old event and url).
        seen.extend(
            {
                "key": change["key"],
                "event_key": change.get("old_event_key", change["event_key"]),
                "hook_url": change.get("old_hook_url", change["hook_url"]),
                "status": change["status"],
            }
            for change in changes
            if change["key"] is not None
        )
        body = SavedPlanBody(
            changes=changes,
            seen=tuple(sorted(seen, key=lambda hook: key_order(hook["key"]))),
            summary=dict(document["summary"]),
            config_digest=document["config_digest"],
            live_fingerprint=document["live_fingerprint"],
            source=document["source"],
            api_url=document["api_url"],
            account=document["account"],
            hookctl_version=document["hookctl_version"],
            created_at=document["created_at"],
            entry_patterns=tuple(document.get("targets", ())),
        )
    except KeyError as exc:
        # The schema requires these only of a saved plan: `plan --format json` has none.
        raise ValueError(f"(top level): {exc} is a required property") from None
    counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
    for change in changes:
        counts[change["action"]] += 1
    counts.update(unchanged=len(document["unchanged"]), unmanaged=len(document["unmanaged"]))
    if counts != body.summary:
        raise ValueError("its summary does not match its changes")
    return body


# -- drift reports -----------------------------------------------------------------------------


def ci_run_url(env: Mapping[str, str]) -> str | None:
    """A link to the CI run this is part of, when the environment says which one."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or env.get("BUILD_URL") or None


def drift_document(
    plan: Plan, *, account: str, api_url: str, source: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """The drift report, with a `text` summary that chat webhooks (Slack and the like) show."""
    run_url = ci_run_url(env)
    return {
        "format_version": FORMAT_VERSION,
        "hookctl_version": __version__,
        "drifted": plan.has_changes,
        "account": account,
        "api_url": public_url(api_url),
        "source": source,
        "run_url": run_url,
        "summary": plan.summary(),
        "changes": [change_to_dict(change) for change in plan.changes],
        "text": drift_text(plan, account=account, source=source, run_url=run_url),
    }


# -- apply reports and runs over several accounts ----------------------------------------------


def report_document(report: ApplyReport) -> dict[str, Any]:
    """The apply report: each change with its outcome, and the plan left afterwards."""
    return {
        "format_version": FORMAT_VERSION,
        "dry_run": report.dry_run,
        "ok": report.ok,
        "converged": report.converged,
        "outcomes": [
            {**change_to_dict(o.change), "result": o.result, "detail": mask_text(o.detail)}
            for o in report.outcomes
        ],
        "counts": report.counts(),
        "remaining": plan_document(report.after) if report.after is not None else None,
    }


def accounts_document(
    command: str,
    results: Sequence[tuple[str, str, str, dict[str, Any] | None, str | None]],
    ok: bool,
) -> dict[str, Any]:
    """A run over several accounts. `results` holds (label, account, source, result, error):
    result is the document the command prints for one account (plan, apply report or drift
    report), error why it failed, if it did. `ok` is false when the command exits 1, which an
    apply with a failed change does too."""
    return {
        "format_version": FORMAT_VERSION,
        "command": command,
        "ok": ok,
        "accounts": [
            {
                "label": label,
                "account": account,
                "source": source,
                "result": result,
                "error": mask_text(error) if error is not None else None,
            }
            for label, account, source, result, error in results
        ],
    }


@dataclass(frozen=True, slots=True)
class ListedAccount:
    """One account as `hookctl accounts` lists it: names, never secrets."""

    name: str  # the label: what --account takes with the same -f
    account: str  # the account's name in its hooks file
    file: str
    api_url: str
    credential_variables: tuple[str, ...]


def account_list_document(rows: Sequence[ListedAccount]) -> dict[str, Any]:
    """`hookctl accounts --format json` (account-list.schema.json): a CI matrix's input."""
    return {
        "format_version": FORMAT_VERSION,
        "accounts": [
            {
                "name": row.name,
                "account": row.account,
                "file": row.file,
                "api_url": public_url(row.api_url),
                "credential_variables": list(row.credential_variables),
            }
            for row in rows
        ],
    }


# -- schemas -----------------------------------------------------------------------------------


def check(document: Any, schema: str) -> None:
    """ValueError naming the first place where `document` breaks schemas/`schema`."""
    import jsonschema  # deferred: slow to import, and only reading a saved plan needs it

    error = jsonschema.exceptions.best_match(validator(schema).iter_errors(document))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ValueError(f"{where}: {error.message[:200]}")


@lru_cache(maxsize=len(SCHEMAS))
def validator(schema: str) -> Any:
    """A validator for one of SCHEMAS, resolving references between them by their $id."""
    import jsonschema
    from referencing import Registry, Resource

    contents = {name: json.loads(schema_text(name)) for name in SCHEMAS}
    registry: Registry[Any] = Registry().with_resources(
        (content["$id"], Resource.from_contents(content)) for content in contents.values()
    )
    return jsonschema.Draft202012Validator(contents[schema], registry=registry)
