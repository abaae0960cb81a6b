"""The JSON documents: each validates against its schema in schemas/, carries format_version,
and a saved plan's body reads back as the plan it was built from."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers.plans import BASE, CONTACTS, desired_state, hook, sample_plan
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from hookctl.domain.planner import Plan, plan
from hookctl.domain.results import ApplyReport, Outcome
from hookctl.engine import planfile
from hookctl.formats import documents
from hookctl.formats.documents import (
    FORMAT_VERSION,
    accounts_document,
    drift_document,
    plan_document,
    read_saved_plan,
    report_document,
    saved_plan_document,
)
from hookctl.formats.text import TEXT_MAX_CHANGES

ROOT = Path(__file__).resolve().parents[2]
API_URL = "http://127.0.0.1:8080/crm/rest/v1"
DIGEST = "3f" * 32


def validator(name: str) -> Draft202012Validator:
    """schemas/NAME as the repository holds it (not as hookctl loads it), with the others
    registered by $id so that references between them resolve."""
    schemas = {path.name: json.loads(path.read_text()) for path in ROOT.glob("schemas/*.json")}
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema))
        for schema in schemas.values()
        if "$id" in schema
    )
    return Draft202012Validator(schemas[name], registry=registry)


def saved_body(the_plan: Plan) -> dict[str, Any]:
    return saved_plan_document(
        the_plan,
        config_digest=DIGEST,
        live_fingerprint=planfile.fingerprint(the_plan.live_hooks()),
        source="hooks.yaml",
        api_url=API_URL,
        account="staging",
        now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    )


def apply_report(dry_run: bool = False) -> ApplyReport:
    """A report with every kind of change and every result an apply gives."""
    the_plan = sample_plan()
    create, update, verify, *deletes = the_plan.changes
    if dry_run:
        return ApplyReport(
            tuple(Outcome(c, "planned", "dry run: not sent") for c in the_plan.changes),
            after=None,
            dry_run=True,
        )
    created = hook(9, create.event_key, create.hook_url)
    outcomes = (
        Outcome(create, "done", hook=created),
        Outcome(update, "unverified", "Unverified: the receiver did not answer", None),
        Outcome(verify, "failed", "POST /hooks/2/verify -> HTTP 500"),
        Outcome(deletes[0], "skipped", "already gone"),
        Outcome(deletes[1], "done"),
    )
    return ApplyReport(outcomes, after=the_plan)


# -- every document against its schema ---------------------------------------------------------


def test_the_plan_document_validates_against_the_plan_schema() -> None:
    document = plan_document(sample_plan())
    validator("plan.schema.json").validate(document)
    assert document["format_version"] == FORMAT_VERSION


def test_the_saved_plan_body_validates_with_and_without_its_checksum(tmp_path: Path) -> None:
    body = saved_body(sample_plan())
    validator("plan.schema.json").validate(body)
    assert body["created_at"] == "2026-01-02T03:04:05Z"
    planfile.write(
        tmp_path / "plan.json",
        sample_plan(),
        config_digest=DIGEST,
        live_fingerprint=body["live_fingerprint"],
        source="hooks.yaml",
        api_url=API_URL,
    )
    validator("plan.schema.json").validate(json.loads((tmp_path / "plan.json").read_text()))


@pytest.mark.parametrize("drifted", [True, False])
def test_the_drift_document_validates_against_the_drift_schema(drifted: bool) -> None:
    the_plan = sample_plan() if drifted else plan(desired_state({}), [])
    env = {"GITHUB_REPOSITORY": "acme/hooks", "GITHUB_RUN_ID": "7"}
    document = drift_document(
        the_plan, account="default", api_url=API_URL, source="hooks.yaml", env=env
    )
    validator("drift.schema.json").validate(document)
    assert document["format_version"] == FORMAT_VERSION
    assert document["drifted"] is drifted
    assert document["run_url"] == "https://github.com/acme/hooks/actions/runs/7"


def test_the_drift_text_shows_a_bounded_number_of_changes() -> None:
    live = [hook(k, "order.add", f"{BASE}/x{k}") for k in range(1, 31)]
    the_plan = plan(desired_state({}, prefixes=(f"{BASE}/",)), live)
    document = drift_document(the_plan, account="a", api_url=API_URL, source="h.yaml", env={})
    lines = document["text"].splitlines()
    assert lines[0] == "hookctl drift: account 'a' has drifted from h.yaml"
    assert len(lines) == 2 + TEXT_MAX_CHANGES + 1
    assert lines[-1] == f"… and {30 - TEXT_MAX_CHANGES} more"
    assert len(document["changes"]) == 30


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_apply_report_validates_against_the_report_schema(dry_run: bool) -> None:
    document = report_document(apply_report(dry_run))
    validator("report.schema.json").validate(document)
    assert document["format_version"] == FORMAT_VERSION
    results = [o["result"] for o in document["outcomes"]]
    if dry_run:
        assert document["remaining"] is None and set(results) == {"planned"}
    else:
        assert set(results) == {"done", "skipped", "unverified", "failed"}
        assert document["remaining"] == plan_document(sample_plan())
        assert document["outcomes"][1]["diff"] == plan_document(sample_plan())["changes"][1]["diff"]


def test_the_report_schema_refuses_what_the_builder_never_writes() -> None:
    check = validator("report.schema.json")
    document = report_document(apply_report())
    outcome = document["outcomes"][0]
    for broken in (
        {**document, "outcomes": [{**outcome, "result": "maybe"}]},
        {**document, "outcomes": [{**outcome, "extra": 1}]},
        {**document, "counts": {"done": 0}},
        {**document, "remaining": {"changes": []}},
        {**document, "format_version": 2},
    ):
        assert not check.is_valid(broken)


def test_the_accounts_document_validates_and_holds_each_accounts_document() -> None:
    results = [
        ("production", "production", "hooks.yaml", plan_document(sample_plan()), None),
        ("staging", "staging", "hooks.yaml", report_document(apply_report()), None),
        ("dev", "dev", "hooks.yaml", None, "GET /hooks: unreachable"),
    ]
    document = accounts_document("plan", results, ok=False)
    validator("accounts.schema.json").validate(document)
    assert document["format_version"] == FORMAT_VERSION
    assert [a["label"] for a in document["accounts"]] == ["production", "staging", "dev"]
    assert document["accounts"][2] == {
        "label": "dev",
        "account": "dev",
        "source": "hooks.yaml",
        "result": None,
        "error": "GET /hooks: unreachable",
    }


@pytest.mark.parametrize("name", documents.SCHEMAS)
def test_every_property_of_every_document_schema_has_a_description(name: str) -> None:
    missing: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{where}/{key}")
            for key, sub in node.items():
                walk(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for index, sub in enumerate(node):
                walk(sub, f"{where}/{index}")

    walk(json.loads((ROOT / "schemas" / name).read_text()), name)
    assert missing == []


def test_hookctl_checks_against_the_same_schemas_and_names_the_place() -> None:
    document = plan_document(sample_plan())
    documents.check(document, "plan.schema.json")
    document["changes"][0]["action"] = "explode"
    with pytest.raises(ValueError, match=r"^changes/0/action: 'explode' is not one of"):
        documents.check(document, "plan.schema.json")
    with pytest.raises(ValueError, match=r"^\(top level\): "):
        documents.check([], "report.schema.json")


# -- reading back -------------------------------------------------------------------------------


def test_a_saved_plan_round_trips_through_its_document() -> None:
    original = plan(
        desired_state({"c": (CONTACTS, ["contact.add", "contact.edit"])}, prefixes=(f"{BASE}/",)),
        [hook(1, "contact.add", CONTACTS, "Inactive"), hook(2, "order.add", f"{BASE}/x")],
    )
    for the_plan in (original, sample_plan()):
        body = read_saved_plan(json.loads(json.dumps(saved_body(the_plan))))
        assert list(body.changes) == plan_document(the_plan)["changes"]
        assert list(body.seen) == [documents.hook_to_dict(h) for h in the_plan.live_hooks()]
        assert body.summary == the_plan.summary()
        assert (body.config_digest, body.source, body.api_url, body.account) == (
            DIGEST,
            "hooks.yaml",
            API_URL,
            "staging",
        )
        assert body.created_at == "2026-01-02T03:04:05Z"


def test_a_saved_plan_written_and_read_by_planfile_is_the_same_plan(tmp_path: Path) -> None:
    the_plan = sample_plan()
    body = saved_body(the_plan)
    planfile.write(
        tmp_path / "plan.json",
        the_plan,
        config_digest=DIGEST,
        live_fingerprint=body["live_fingerprint"],
        source="hooks.yaml",
        api_url=API_URL,
        account="staging",
    )
    saved = planfile.read(tmp_path / "plan.json")
    assert list(saved.changes) == plan_document(the_plan)["changes"]
    again = read_saved_plan(json.loads((tmp_path / "plan.json").read_text()))
    assert again.changes == saved.changes
    assert (saved.account, saved.path) == ("staging", str(tmp_path / "plan.json"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["summary"].update(create=5), "its summary does not match its changes"),
        (lambda d: d.pop("unchanged"), r"^\(top level\): 'unchanged' is a required property"),
    ],
)
def test_a_body_that_does_not_add_up_is_refused_with_value_error(edit: Any, message: str) -> None:
    body = saved_body(sample_plan())
    edit(body)
    with pytest.raises(ValueError, match=message):
        read_saved_plan(body)


def test_every_document_shows_urls_masked_and_a_saved_plan_reads_back_as_masked() -> None:
    """Hook urls carry credentials (issue 13): every document masks them, in reasons, details
    and errors too; a saved plan holds the fingerprints and reads back as the masked plan."""
    secret = "tok-3b1f0e9d"
    tokened = f"{BASE}/keap/moved?token={secret}"
    the_plan = plan(
        desired_state({"c": (CONTACTS, ["contact.add"])}, prefixes=(f"{BASE}/",)),
        [hook(1, "contact.add", tokened), hook(2, "order.add", f"{BASE}/x#{secret}")],
    )
    update = the_plan.changes[0]
    error = f"POST /hooks -> HTTP 400: bad hookUrl {tokened}"
    report = ApplyReport((Outcome(update, "failed", error),), after=the_plan)
    built = [
        plan_document(the_plan),
        saved_body(the_plan),
        drift_document(the_plan, account="a", api_url=API_URL, source="h.yaml", env={}),
        report_document(report),
        accounts_document("apply", [("a", "a", "h.yaml", None, error)], ok=False),
    ]
    text = json.dumps(built)
    assert secret not in text
    assert text.count("token=***(") >= 6 and "x#***(" in text
    read = read_saved_plan(json.loads(json.dumps(saved_body(the_plan))))
    assert list(read.changes) == plan_document(the_plan)["changes"]  # masking twice: the same
