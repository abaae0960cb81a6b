"""Many accounts at once: two sandboxes on loopback stand for production and staging (or two
clients of an agency), each with its own API key; plan, apply and drift cover both, one
account failing never stops the other, and bad input reaches neither."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers.cli import Cli
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from hookctl import config
from hookctl.cli import commands
from hookctl.cli.output import Progress
from hookctl.engine import selection
from hookctl.errors import HookctlError
from hookctl.keap.client import RetryPolicy
from hookctl.sandbox import Faults, Sandbox, SandboxSettings

ROOT = Path(__file__).resolve().parents[2]
PROD_KEY = "sk-PROD-RECOGNISABLE-7d1e"
STAGING_KEY = "sk-STAGING-RECOGNISABLE-2b9a"


@pytest.fixture
def two(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, Sandbox]]:
    """Production and staging: two sandboxes, each knowing only its own key."""
    with (
        Sandbox(SandboxSettings(api_key=PROD_KEY, time_scale=1e-4)) as production,
        Sandbox(SandboxSettings(api_key=STAGING_KEY, time_scale=1e-4)) as staging,
    ):
        # Each account's api_url in hooks.yaml must decide where it goes.
        monkeypatch.delenv("KEAP_API_URL", raising=False)
        monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
        monkeypatch.setenv("PROD_KEY", PROD_KEY)
        monkeypatch.setenv("STAGING_KEY", STAGING_KEY)
        yield production, staging


def hooks_file(tmp_path: Path, production: Sandbox, staging: Sandbox, extra: str = "") -> Path:
    """contacts goes to both accounts, notes to staging only. Both receivers are on staging's
    sandbox; each sandbox delivers its handshakes to whatever url it is given."""
    base = staging.receiver_url
    path = tmp_path / "hooks.yaml"
    path.write_text(
        f"""version: 1
accounts:
  production:
    api_url: {production.api_url}
    credentials: {{api_key_env: PROD_KEY}}
  staging:
    api_url: {staging.api_url}
    credentials: {{api_key_env: STAGING_KEY}}
ownership:
  url_prefixes: ['{base}/managed/']
hooks:
  - name: contacts
    url: {base}/managed/contacts
    events: [contact.add, contact.edit]
  - name: notes
    url: {base}/managed/notes
    events: [note.add]
    accounts: [staging]
{extra}"""
    )
    return path


def pairs(sandbox: Sandbox) -> set[tuple[str, str]]:
    return {(hook.event_key, hook.hook_url.rsplit("/", 1)[1]) for hook in sandbox.hooks()}


def writes(sandbox: Sandbox) -> int:
    return sum(n for call, n in sandbox.stats()["calls"].items() if not call.startswith("GET"))


def calls(sandbox: Sandbox) -> int:
    return sum(sandbox.stats()["calls"].values())


def validator(name: str) -> Draft202012Validator:
    schemas = {
        file: json.loads((ROOT / "schemas" / file).read_text())
        for file in ("plan.schema.json", "drift.schema.json", "accounts.schema.json")
    }
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema))
        for schema in schemas.values()
        if "$id" in schema
    )
    return Draft202012Validator(schemas[name], registry=registry)


# -- every account -----------------------------------------------------------------------------


def test_apply_makes_each_account_match_its_own_part_of_the_file(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    result = cli.run("plan", "-f", str(path), "--detailed-exitcode", status=2)
    out = result.out
    assert "=== production ===" in out and "=== staging ===" in out
    assert "production  2 to create; 0 unchanged, 0 unmanaged" in out
    assert "staging     3 to create; 0 unchanged, 0 unmanaged" in out

    result = cli.run("apply", "-f", str(path), "--auto-approve")
    assert pairs(production) == {("contact.add", "contacts"), ("contact.edit", "contacts")}
    assert pairs(staging) == pairs(production) | {("note.add", "notes")}
    assert {hook.status for hook in [*production.hooks(), *staging.hooks()]} == {"Verified"}
    out = result.out
    assert "production  Applied: 2 done. The account now matches." in out
    assert "staging     Applied: 3 done. The account now matches." in out

    before = writes(production), writes(staging)
    cli.run("plan", "-f", str(path), "--detailed-exitcode")
    cli.run("apply", "-f", str(path), "--auto-approve")
    cli.run("drift", "-f", str(path))
    assert (writes(production), writes(staging)) == before


def test_taking_an_account_off_an_entry_deletes_its_subscriptions_there(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    cli.run("apply", "-f", str(path), "--auto-approve")
    path.write_text(
        path.read_text().replace(
            "events: [contact.add, contact.edit]\n",
            "events: [contact.add, contact.edit]\n    accounts: [staging]\n",
        )
    )
    # Production is left with no entry at all: the empty-state rule asks to confirm that.
    cli.run("apply", "-f", str(path), "--auto-approve", status=1)
    assert len(pairs(production)) == 2
    cli.run("apply", "-f", str(path), "--auto-approve", "--allow-empty")
    assert pairs(production) == set()
    assert len(pairs(staging)) == 3


def test_a_failing_account_does_not_stop_the_other_and_the_exit_code_says_so(
    two: tuple[Sandbox, Sandbox],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    monkeypatch.setenv("PROD_KEY", "sk-WRONG-KEY-0000")  # production refuses every call
    result = cli.run("apply", "-f", str(path), "--auto-approve", status=1)
    assert len(pairs(staging)) == 3
    assert pairs(production) == set()
    captured = result
    assert "hookctl: error: production: GET /hooks -> HTTP 401" in captured.err
    assert "production  failed: GET /hooks -> HTTP 401" in captured.out
    assert "staging     Applied: 3 done. The account now matches." in captured.out
    for text in (captured.out, captured.err):
        assert "sk-WRONG-KEY-0000" not in text and STAGING_KEY not in text

    # A plan and a drift check still show staging, and still fail for production.
    result = cli.run("drift", "-f", str(path), "--format", "json", status=1)
    document = json.loads(result.out)
    validator("accounts.schema.json").validate(document)
    assert document["command"] == "drift" and document["ok"] is False
    failed, fine = document["accounts"]
    assert (failed["account"], failed["result"]) == ("production", None)
    assert "HTTP 401" in failed["error"]
    assert (fine["account"], fine["error"], fine["result"]["drifted"]) == ("staging", None, False)
    validator("drift.schema.json").validate(fine["result"])


def test_an_unreachable_account_is_reported_while_the_other_is_planned(
    two: tuple[Sandbox, Sandbox],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production, staging = two
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, retry: 0.01)  # retries, quickly
    path = hooks_file(tmp_path, production, staging)
    production.stop()
    result = cli.run("plan", "-f", str(path), "--format", "json", status=1)
    document = json.loads(result.out)
    validator("accounts.schema.json").validate(document)
    assert [entry["error"] is None for entry in document["accounts"]] == [False, True]
    validator("plan.schema.json").validate(document["accounts"][1]["result"])
    assert document["accounts"][1]["result"]["summary"]["create"] == 3


def test_a_safety_refusal_in_one_account_leaves_the_other_applied(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    base = staging.receiver_url
    production.seed([("contact.delete", f"{base}/managed/old{i}", "Verified") for i in range(10)])
    path = hooks_file(tmp_path, production, staging)
    result = cli.run("apply", "-f", str(path), "--auto-approve", status=1)
    assert "production: refusing" in result.err
    assert len(production.hooks()) == 10 and writes(production) == 0
    assert len(pairs(staging)) == 3


def test_bad_input_reaches_no_account(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    path.write_text(path.read_text().replace("accounts: [staging]", "accounts: [stagin]"))
    result = cli.run("apply", "-f", str(path), "--auto-approve", status=1)
    err = result.err
    assert f"{path}:18:16: hooks[1].accounts[0]: 'stagin' is not an account" in err
    assert "Traceback" not in err
    assert calls(production) == calls(staging) == 0


def test_a_config_error_found_with_one_accounts_event_types_writes_to_no_account(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    # contact.merge is not in the built-in list, so each account's own event types decide;
    # the sandboxes do not offer it.
    extra = f"  - name: merges\n    url: {staging.receiver_url}/managed/m\n"
    extra += "    events: [contact.merge]\n    accounts: [production]\n"
    path = hooks_file(tmp_path, production, staging, extra)
    result = cli.run("apply", "-f", str(path), "--auto-approve", status=1)
    err = result.err
    assert "'contact.merge' is not a Keap event type" in err
    assert "nothing was applied to any account" in err
    assert writes(production) == writes(staging) == 0


# -- choosing accounts -------------------------------------------------------------------------


def test_account_flag_works_on_that_account_alone(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    result = cli.run("apply", "-f", str(path), "--account", "staging", "--auto-approve")
    assert calls(production) == 0
    assert len(pairs(staging)) == 3
    out = result.out
    assert "===" not in out  # one account: the output of a single-account file
    cli.run("drift", "-f", str(path), "--account", "production", status=2)


def test_an_unknown_account_is_an_error_naming_the_declared_ones(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    result = cli.run("plan", "-f", str(path), "--account", "prod", status=1)
    assert result.err == (
        f"hookctl: error: --account prod: {path} has no account of that name "
        "(declared: production, staging)\n"
    )
    assert calls(production) == calls(staging) == 0


def test_a_directory_of_client_files_covers_every_client(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    clients = tmp_path / "clients"
    clients.mkdir()
    for name, sandbox, key in (
        ("acme", production, "PROD_KEY"),
        ("zenith", staging, "STAGING_KEY"),
    ):
        (clients / f"{name}.yaml").write_text(
            f"version: 1\naccount:\n  api_url: {sandbox.api_url}\n"
            f"  credentials: {{api_key_env: {key}}}\nhooks:\n  - name: {name}\n"
            f"    url: {sandbox.receiver_url}/{name}\n    events: [contact.add]\n"
        )
    (clients / "README.md").write_text("not a hooks file\n")
    (clients / ".draft.yaml").write_text("version: [\n")
    result = cli.run("apply", "-f", str(clients), "--auto-approve")
    assert pairs(production) == {("contact.add", "acme")}
    assert pairs(staging) == {("contact.add", "zenith")}
    out = result.out
    # Each client's account is named by its file: the part of the path that tells them apart.
    assert "=== acme ===" in out and "=== zenith ===" in out

    # -f repeated picks files; the same file named twice, however spelt, counts once.
    acme = str(clients / "acme.yaml")
    again = str(clients / "." / "acme.yaml")
    result = cli.run("plan", "-f", acme, "-f", again, "--detailed-exitcode")
    assert "===" not in result.out
    assert selection.hooks_files([str(clients), again]) == [acme, str(clients / "zenith.yaml")]


def test_an_empty_directory_is_an_error(tmp_path: Path, cli: Cli) -> None:
    result = cli.run("validate", "--offline", "-f", str(tmp_path), status=1)
    assert result.err == (
        f"hookctl: error: {tmp_path}: no *.yaml or *.yml files in this directory\n"
    )


def test_validate_checks_every_account_and_says_each_once(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\naccounts: {a: {}, b: {}}\nhooks:\n  - name: x\n"
        "    url: https://h.example.com/x\n    events: [contact.ad]\n"
    )
    result = cli.run("validate", "--offline", "-f", str(path), status=1)
    err = result.err
    assert err.count("'contact.ad' is not a Keap event type") == 1
    path.write_text(path.read_text().replace("contact.ad]", "contact.add]"))
    result = cli.run("validate", "--offline", "-f", str(path))
    assert result.out == (
        f"{path} (account a): valid (1 subscriptions in 1 hooks)\n"
        f"{path} (account b): valid (1 subscriptions in 1 hooks)\n"
    )


# -- saved plans -------------------------------------------------------------------------------


def test_a_saved_plan_of_one_account_applies_there_only(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    saved = tmp_path / "staging.plan"
    cli.run("plan", "-f", str(path), "--account", "staging", "--out", str(saved))
    assert json.loads(saved.read_text())["account"] == "staging"
    argv = ["apply", str(saved), "--account", "production", "--auto-approve"]
    elsewhere = cli.run(*argv, status=1)
    assert "made for account 'staging', not 'production'" in elsewhere.err
    cli.run("apply", str(saved), "--auto-approve")
    assert len(pairs(staging)) == 3 and calls(production) == 0


def test_a_plan_for_an_account_the_file_no_longer_declares_is_refused(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    saved = tmp_path / "p.plan"
    cli.run("plan", "-f", str(path), "--account", "staging", "--out", str(saved))
    path.write_text(path.read_text().replace("  staging:", "  qa:").replace("[staging]", "[qa]"))
    result = cli.run("apply", str(saved), "--auto-approve", status=1)
    assert result.err == (
        f"hookctl: error: {saved} is a plan for account 'staging', which {path} no longer "
        "declares; run `hookctl plan` again\n"
    )
    assert writes(staging) == writes(production) == 0


# -- drift alerts and logs ---------------------------------------------------------------------


def test_drift_notifies_once_per_drifted_account(
    two: tuple[Sandbox, Sandbox],
    tmp_path: Path,
    receiver: tuple[str, list[dict[str, Any]]],
    cli: Cli,
) -> None:
    production, staging = two
    url, bodies = receiver
    path = hooks_file(tmp_path, production, staging)
    applied = cli.run("apply", "-f", str(path), "--auto-approve")
    # A hand-made change in staging only.
    key = staging.hooks()[0].key
    answer = requests.delete(
        f"{staging.api_url}/hooks/{key}", headers={"X-Keap-API-Key": STAGING_KEY}, timeout=10
    )
    assert answer.status_code == 204
    drifted = cli.run("drift", "-f", str(path), "--notify", url, status=2)
    [body] = bodies
    validator("drift.schema.json").validate(body)
    assert (body["account"], body["drifted"], body["summary"]["create"]) == ("staging", True, 1)
    out, err = applied.out + drifted.out, applied.err + drifted.err
    assert "staging     drifted: 1 to create" in out
    for text in (out, err, json.dumps(body)):
        assert PROD_KEY not in text and STAGING_KEY not in text and "hook-token" not in text


def test_log_lines_name_their_account(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    result = cli.run("-vv", "apply", "-f", str(path), "--auto-approve")
    err = result.err
    for account in ("production", "staging"):
        assert f"hookctl: DEBUG: {account}: " in err
    assert PROD_KEY not in err and STAGING_KEY not in err


def test_accounts_sharing_credentials_and_url_are_warned_about(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    path.write_text(path.read_text().replace(staging.api_url, production.api_url))
    path.write_text(path.read_text().replace("STAGING_KEY}", "PROD_KEY}"))
    result = cli.run("plan", "-f", str(path))
    assert (
        "hookctl: WARNING: production and staging use the same credentials variable and API url"
        in result.err
    )


# -- the pieces --------------------------------------------------------------------------------


def test_labels_name_the_file_only_when_there_are_several(tmp_path: Path) -> None:
    one = config.read_text("version: 1\naccounts: {a: {}, b: {}}\nhooks: []\n", "one.yaml")
    two = config.read_text("version: 1\nhooks: []\n", "two.yaml")
    assert [t.label for t in selection.select([one])] == ["a", "b"]
    assert [t.label for t in selection.select([one, two])] == [
        "one.yaml:a",
        "one.yaml:b",
        "two",
    ]
    assert [t.label for t in selection.select([one, two], "b")] == ["one.yaml:b"]
    with pytest.raises(
        HookctlError,
        match=r"none of the files has an account of that name \(declared: a, b, two\)",
    ):
        selection.select([one, two], "c")


def test_run_each_keeps_order_and_isolates_failures() -> None:
    document = config.read_text(
        "version: 1\naccounts: {a: {}, b: {}, c: {}}\nhooks: []\n", "x.yaml"
    )

    def work(selected: selection.Selected) -> str:
        if selected.label == "b":
            raise HookctlError("b is down")
        return selected.label.upper()

    outcomes = selection.run_each(selection.select([document]), work, max_workers=2)
    assert [(o.value, str(o.error) if o.error else None) for o in outcomes] == [
        ("A", None),
        (None, "b is down"),
        ("C", None),
    ]


def test_faults_in_one_sandbox_are_its_own(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    """The sandboxes are independent: a flaky production does not slow staging's apply."""
    production, staging = two
    production.set_faults(Faults(error_rate=1.0))
    path = hooks_file(tmp_path, production, staging)
    cli.run("apply", "-f", str(path), "--auto-approve", status=1)
    assert len(pairs(staging)) == 3 and pairs(production) == set()


def test_run_each_works_on_accounts_side_by_side_within_the_bound() -> None:
    document = config.read_text(
        "version: 1\naccounts: {a: {}, b: {}, c: {}, d: {}}\nhooks: []\n", "x.yaml"
    )
    # Two at a time must meet at the barrier (it times out if they ran one after the other),
    # and a third at once would be seen.
    barrier = threading.Barrier(2, timeout=5)
    lock = threading.Lock()
    active: list[int] = [0, 0]  # now, most

    def work(selected: selection.Selected) -> None:
        with lock:
            active[0] += 1
            active[1] = max(active)
        barrier.wait()
        with lock:
            active[0] -= 1

    outcomes = selection.run_each(selection.select([document]), work, max_workers=2)
    assert all(outcome.ok for outcome in outcomes)
    assert active[1] == 2


def test_markdown_json_and_the_job_summary_name_every_account(
    two: tuple[Sandbox, Sandbox],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = cli.run("plan", "-f", str(path), "--format", "markdown")
    out = result.out
    assert out.index("## production") < out.index("## staging") < out.index("## Accounts")
    assert "- **staging**: 3 to create; 0 unchanged, 0 unmanaged" in out
    written = summary.read_text()
    assert "### hookctl plan: production" in written and "### hookctl plan: staging" in written

    result = cli.run("apply", "-f", str(path), "--auto-approve", "--format", "json")
    captured = result
    document = json.loads(captured.out)
    validator("accounts.schema.json").validate(document)
    assert document["command"] == "apply" and document["ok"] is True
    results = {entry["account"]: entry["result"] for entry in document["accounts"]}
    assert results["production"]["counts"] == {"done": 2}
    assert results["staging"]["converged"] is True
    assert "=== staging ===" in captured.err  # the preview goes to stderr with json


def test_hooks_commands_reach_the_account_named_in_the_hooks_file(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    path = hooks_file(tmp_path, production, staging)
    cli.run("apply", "-f", str(path), "--account", "staging", "--auto-approve")
    argv = ["hooks", "list", "-f", str(path), "--format", "json"]
    result = cli.run(*argv, "--account", "staging")
    assert len(json.loads(result.out)) == 3
    result = cli.run(*argv, "--account", "production")
    assert json.loads(result.out) == []
    result = cli.run(*argv, "--account", "qa", status=1)
    assert "has no account of that name" in result.err


def test_ctrl_c_stops_the_writes_of_every_account(
    two: tuple[Sandbox, Sandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    production, staging = two
    base = staging.receiver_url
    extra = "".join(
        f"  - name: bulk{i}\n    url: {base}/managed/bulk{i}\n    events: [contact.add]\n"
        for i in range(12)
    )
    path = hooks_file(tmp_path, production, staging, extra)
    staging.set_faults(Faults(latency=0.05))
    real = commands._progress

    def progress(label: str, board: Progress) -> Callable[[object], None]:
        step = real(label, board)
        if label != "production":
            return step

        def ctrl_c(outcome: object) -> None:
            step(outcome)
            raise KeyboardInterrupt  # as if it reached the main thread now

        return ctrl_c

    argv = ["apply", "-f", str(path), "--auto-approve", "--parallelism", "1"]
    with monkeypatch.context() as patch:
        patch.setattr("hookctl.cli.commands._progress", progress)
        cli.run(*argv, status=130)
    for thread in threading.enumerate():
        if thread.name.startswith("account"):
            thread.join(timeout=10)
    # Each account stops within a write or two of Ctrl-C, not after its 14 creates.
    assert 1 <= len(production.hooks()) <= 3
    assert len(staging.hooks()) <= 4
    # Nothing is lost: a rerun finishes both, with no duplicate.
    cli.run(*argv[:-2])
    for sandbox, expected in ((production, 14), (staging, 15)):
        keys = [hook.pair for hook in sandbox.hooks()]
        assert len(keys) == len(set(keys)) == expected


def test_json_says_not_ok_when_an_apply_leaves_a_hook_unverified(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    extra = f"  - name: broken\n    url: {staging.receiver_url}/fail/x\n"
    extra += "    events: [contact.add]\n    accounts: [production]\n"
    path = hooks_file(tmp_path, production, staging, extra)
    result = cli.run("apply", "-f", str(path), "--auto-approve", "--format", "json", status=1)
    document = json.loads(result.out)
    validator("accounts.schema.json").validate(document)
    assert document["ok"] is False
    results = {entry["account"]: entry for entry in document["accounts"]}
    assert results["production"]["error"] is None
    assert results["production"]["result"]["converged"] is False
    assert results["staging"]["result"]["ok"] is True


def test_a_config_error_in_apply_still_ends_with_the_combined_report(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    extra = f"  - name: merges\n    url: {staging.receiver_url}/managed/m\n"
    extra += "    events: [contact.merge]\n"  # for both accounts: one line, said once
    path = hooks_file(tmp_path, production, staging, extra)
    result = cli.run("apply", "-f", str(path), "--auto-approve", "--format", "json", status=1)
    captured = result
    assert captured.err.count("'contact.merge' is not a Keap event type") == 1
    document = json.loads(captured.out)
    validator("accounts.schema.json").validate(document)
    assert document["ok"] is False
    assert all("contact.merge" in entry["error"] for entry in document["accounts"])
    assert writes(production) == writes(staging) == 0


def client_files(tmp_path: Path, production: Sandbox, staging: Sandbox) -> Path:
    """One file per client: clients/acme.yaml and clients/globex.yaml, each a single
    `account:`."""
    clients = tmp_path / "clients"
    clients.mkdir()
    base = staging.receiver_url
    for stem, sandbox, variable in (
        ("acme", production, "PROD_KEY"),
        ("globex", staging, "STAGING_KEY"),
    ):
        (clients / f"{stem}.yaml").write_text(
            f"""version: 1
account:
  api_url: {sandbox.api_url}
  credentials: {{api_key_env: {variable}}}
hooks:
  - name: contacts
    url: {base}/{stem}/contacts
    events: [contact.add]
"""
        )
    return clients


def test_one_file_per_client_is_named_after_its_stem(
    two: tuple[Sandbox, Sandbox],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production, staging = two
    clients = client_files(tmp_path, production, staging)
    monkeypatch.chdir(tmp_path)
    result = cli.run("plan", "-f", "clients", "--account", "acme", "--format", "json")
    report = json.loads(result.out)
    shown = json.dumps(report)
    assert "acme" in shown and "globex" not in shown
    assert '"default"' not in shown

    saved = tmp_path / "acme.plan.json"
    cli.run("plan", "-f", "clients", "--account", "acme", "--out", str(saved))
    assert json.loads(saved.read_text())["account"] == "acme"
    # The saved plan applies to acme's file alone, and only to acme's account.
    cli.run("apply", str(saved))
    assert {hook.hook_url.rsplit("/", 2)[1] for hook in production.hooks()} == {"acme"}
    assert staging.hooks() == []
    # A file alone keeps its old name, "default", and may be picked by its stem.
    alone = str(clients / "globex.yaml")
    cli.run("plan", "-f", alone, "--out", str(tmp_path / "g.json"))
    assert json.loads((tmp_path / "g.json").read_text())["account"] == "default"
    cli.run("plan", "-f", alone, "--account", "globex", "--format", "json")


def test_two_files_naming_one_account_are_refused_naming_both(
    two: tuple[Sandbox, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    production, staging = two
    clients = client_files(tmp_path, production, staging)
    other = tmp_path / "other"
    other.mkdir()
    text = (clients / "acme.yaml").read_text().replace("account:\n", "account:\n  name: acme\n")
    (other / "copy.yml").write_text(text)
    result = cli.run("plan", "-f", str(clients), "-f", str(other), "--account", "acme", status=1)
    err = result.err
    assert str(clients / "acme.yaml") in err and str(other / "copy.yml") in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
