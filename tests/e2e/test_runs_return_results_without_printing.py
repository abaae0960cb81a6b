"""The runner on its own, against a live sandbox: what plan, apply, drift and validate return
for each account, saved plans refused for another account, safety refusals as an account's
error, and nothing the runner is given changed by it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hookctl.domain.planner import Create
from hookctl.domain.results import ApplyReport
from hookctl.engine import planfile, runner
from hookctl.engine.planfile import SavedRun
from hookctl.engine.runner import Options
from hookctl.engine.selection import Selected, Selection, choose, for_saved_plan
from hookctl.errors import ConfigError, HookctlError, StalePlanError, UnsafePlanError
from hookctl.sandbox import Sandbox, SandboxSettings


@pytest.fixture
def keys(api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two variables holding the sandbox's one key: two accounts, one sandbox, no warning that
    # they are the same account.
    for name in ("KEAP_API_KEY", "KEY_A", "KEY_B"):
        monkeypatch.setenv(name, api_key)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def one_account(tmp_path: Path, sandbox: Sandbox, hooks: str) -> Path:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\n"
        "account:\n  credentials: {api_key_env: KEAP_API_KEY}\n"
        f"ownership:\n  url_prefixes: ['{sandbox.receiver_url}/managed/']\n"
        f"hooks:{hooks}\n"
    )
    return path


def two_accounts(tmp_path: Path, sandbox: Sandbox, b_hooks: str = "[contact.add]") -> Path:
    path = tmp_path / "accounts.yaml"
    base = sandbox.receiver_url
    path.write_text(
        "version: 1\n"
        "accounts:\n"
        "  a:\n    credentials: {api_key_env: KEY_A}\n"
        "  b:\n    credentials: {api_key_env: KEY_B}\n"
        f"ownership:\n  url_prefixes: ['{base}/managed/']\n"
        "hooks:\n"
        f"  - name: a-contacts\n    url: {base}/managed/a\n    events: [contact.add]\n"
        "    accounts: [a]\n"
        f"  - name: b-contacts\n    url: {base}/managed/b\n    events: {b_hooks}\n"
        "    accounts: [b]\n"
    )
    return path


TWO_HOOKS = """
  - name: contacts
    url: {base}/managed/contacts
    events: [contact.add, contact.edit]
"""


def small(tmp_path: Path, sandbox: Sandbox) -> Path:
    return one_account(tmp_path, sandbox, TWO_HOOKS.format(base=sandbox.receiver_url))


def chosen(
    files: list[str] | None, account: str | None = None, saved: SavedRun | None = None
) -> list[Selected]:
    return choose(Selection(files=tuple(files or ()), account=account), saved)


def options(sandbox: Sandbox, **flags: Any) -> Options:
    return Options(api_url=sandbox.api_url, **flags)


def test_plan_returns_each_accounts_desired_state_live_hooks_plan_and_url(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    opts = options(sandbox)
    [target] = chosen([str(small(tmp_path, sandbox))], None)
    [outcome] = runner.plan([target], opts)
    assert outcome.selected == target
    assert outcome.error is None
    planned = outcome.value
    assert planned is not None
    assert len(planned.desired.subscriptions) == 2
    assert planned.live == ()
    assert [type(change) for change in planned.plan.changes] == [Create, Create]
    assert planned.api_url == sandbox.api_url
    assert planned.refusal is None
    assert sandbox.stats()["calls"] == {"GET /hooks": 1}


def test_apply_in_two_steps_returns_the_apply_report_and_converges(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    opts = options(sandbox)
    targets = chosen([str(small(tmp_path, sandbox))], None)
    with runner.prepare(targets, opts) as prepared:
        assert not prepared.blocked
        assert [target for target, _ in prepared.pending] == targets
        assert sandbox.hooks() == []  # prepare writes nothing
        seen: list[str] = []
        [outcome] = runner.execute(prepared, opts, lambda t: lambda o: seen.append(o.result))
    report = outcome.value
    assert isinstance(report, ApplyReport)
    assert report.ok and report.converged
    assert [o.result for o in report.outcomes] == ["done", "done"] == seen
    assert {hook.event_key for hook in sandbox.hooks()} == {"contact.add", "contact.edit"}
    # A second run has nothing to do: an empty report, and no write.
    sandbox.reset_stats()
    with runner.prepare(targets, opts) as prepared:
        assert prepared.pending == []
        [again] = runner.execute(prepared, opts)
    assert again.value is not None and again.value.outcomes == ()
    assert set(sandbox.stats()["calls"]) == {"GET /hooks"}
    [drift] = runner.drift(targets, opts)
    assert drift.value is not None and not drift.value.plan.has_changes


def test_a_dry_run_reports_what_would_be_sent_and_sends_nothing(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    opts = options(sandbox, dry_run=True)
    targets = chosen([str(small(tmp_path, sandbox))], None)
    with runner.prepare(targets, opts) as prepared:
        [outcome] = runner.execute(prepared, opts)
    assert outcome.value is not None and outcome.value.dry_run
    assert [o.result for o in outcome.value.outcomes] == ["planned", "planned"]
    assert sandbox.hooks() == []


def test_validate_returns_each_accounts_desired_state(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    path = one_account(
        tmp_path, sandbox, "\n  - {name: x, url: https://h.example/x, events: [a.b]}"
    )
    opts = options(sandbox, offline=True)
    [offline] = runner.validate(chosen([str(path)], None), opts)
    assert isinstance(offline.error, ConfigError)
    assert "a.b" in str(offline.error)
    # A wildcard expands against the account's own event types.
    path = one_account(
        tmp_path, sandbox, "\n  - {name: x, url: https://h.example/x, events: [contact.*]}"
    )
    opts = options(sandbox)
    [online] = runner.validate(chosen([str(path)], None), opts)
    assert online.value is not None
    assert {sub.event_key for sub in online.value.subscriptions} >= {"contact.add", "contact.edit"}
    assert sandbox.stats()["calls"] == {"GET /hooks/event_keys": 1}


def test_a_saved_plan_for_another_account_is_refused(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    opts = options(sandbox)
    files = [str(two_accounts(tmp_path, sandbox))]
    [target] = chosen(files, "a")
    [outcome] = runner.plan([target], opts)
    assert outcome.value is not None
    saved_path = str(tmp_path / "plan.json")
    runner.save(saved_path, target, outcome.value)
    saved = planfile.read_run(saved_path)

    # Pure: which files and account the plan is applied with.
    assert for_saved_plan(Selection(), saved) == Selection(files=(files[0],), account="a")
    assert for_saved_plan(Selection(tuple(files), "a"), saved) == Selection((files[0],), "a")
    with pytest.raises(HookctlError, match="made for account 'a', not 'b'"):
        for_saved_plan(Selection(tuple(files), "b"), saved)
    with pytest.raises(HookctlError, match="made for account 'a', not 'b'"):
        chosen(files, "b", saved)
    # Without --account, the plan picks its own account out of the file.
    [picked] = chosen(None, None, saved)
    assert (picked.source, picked.account, picked.label) == (files[0], target.account, "a")

    # A file that no longer declares the account.
    other = one_account(tmp_path, sandbox, " []")
    with pytest.raises(HookctlError, match=r"which .* no longer declares"):
        chosen([str(other)], None, saved)

    # Even when handed to prepare for the wrong account, the freshness check refuses it.
    [b] = chosen(files, "b")
    with runner.prepare([b], opts, saved) as prepared:
        [refused] = prepared.outcomes
    assert isinstance(refused.error, StalePlanError)
    assert "made for account 'a', not 'b'" in str(refused.error)
    assert sandbox.hooks() == []


def test_a_saved_plan_is_the_plan_applied_and_a_stale_one_is_refused(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    opts = options(sandbox)
    targets = chosen([str(small(tmp_path, sandbox))], None)
    [outcome] = runner.plan(targets, opts)
    assert outcome.value is not None
    path = str(tmp_path / "plan.json")
    runner.save(path, targets[0], outcome.value)
    saved = planfile.read_run(path)

    [fresh] = runner.plan(targets, opts)
    assert fresh.value is not None
    checked = runner.check(targets[0], fresh.value, opts, saved)
    # The plan to use is the one just made (the saved plan lists its changes), never the file's.
    assert checked.plan is fresh.value.plan

    sandbox.seed([("note.add", f"{sandbox.receiver_url}/managed/elsewhere", "Verified")])
    with runner.prepare(targets, opts, saved) as prepared:
        [stale] = prepared.outcomes
        assert isinstance(stale.error, StalePlanError)
        assert prepared.ready == []
        assert runner.execute(prepared, opts) == []


def test_a_safety_refusal_comes_back_as_that_accounts_error(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    base = sandbox.receiver_url
    sandbox.seed([("contact.delete", f"{base}/managed/old", "Verified")])
    opts = options(sandbox)
    empty = chosen([str(one_account(tmp_path, sandbox, " []"))], None)
    # plan shows the plan, with the reason apply would refuse it.
    [planned] = runner.plan(empty, opts)
    assert planned.value is not None
    assert isinstance(planned.value.refusal, UnsafePlanError)
    # apply: the account's error, and nothing is sent.
    with runner.prepare(empty, opts) as prepared:
        [refused] = prepared.outcomes
        assert isinstance(refused.error, UnsafePlanError)
        assert "--allow-empty" in str(refused.error)
        assert runner.execute(prepared, opts) == []
    assert len(sandbox.hooks()) == 1
    # allow_empty lifts it.
    allowed = options(sandbox, allow_empty=True)
    [judged] = runner.plan(empty, allowed)
    assert judged.value is not None and judged.value.refusal is None


def test_one_accounts_safety_refusal_does_not_stop_the_other(
    sandbox: Sandbox, keys: None, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # $KEAP_API_URL would override the urls the file gives each account, as on the command line.
    monkeypatch.delenv("KEAP_API_URL")
    base = sandbox.receiver_url
    [kept] = sandbox.seed([("contact.add", f"{base}/managed/old", "Verified")])
    with Sandbox(SandboxSettings(api_key=api_key, time_scale=1e-4)) as other:
        path = tmp_path / "hooks.yaml"
        path.write_text(
            "version: 1\n"
            "accounts:\n"
            f"  a:\n    api_url: {sandbox.api_url}\n    credentials: {{api_key_env: KEY_A}}\n"
            f"  b:\n    api_url: {other.api_url}\n    credentials: {{api_key_env: KEY_B}}\n"
            f"ownership:\n  url_prefixes: ['{base}/managed/']\n"
            "hooks:\n"
            f"  - name: b-contacts\n    url: {base}/managed/b\n    events: [contact.add]\n"
            "    accounts: [b]\n"
        )
        opts = Options()  # each account's url is in the file
        targets = chosen([str(path)], None)
        with runner.prepare(targets, opts) as prepared:
            errors = {o.selected.label: o.error for o in prepared.outcomes}
            # a would lose every managed hook to a file that declares none for it.
            assert isinstance(errors["a"], UnsafePlanError)
            assert errors["b"] is None
            assert not prepared.blocked
            [applied] = runner.execute(prepared, opts)
        assert applied.selected.label == "b"
        assert applied.value is not None and applied.value.ok
        assert [hook.pair for hook in other.hooks()] == [("contact.add", f"{base}/managed/b")]
    assert sandbox.hooks() == [kept]


def test_a_hooks_file_error_in_one_account_blocks_every_account(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    opts = options(sandbox)
    # b's entry names an event the sandbox does not have: b fails, and a is not applied either.
    targets = chosen([str(two_accounts(tmp_path, sandbox, "[no.such]"))], None)
    with runner.prepare(targets, opts) as prepared:
        errors = {o.selected.account.name: o.error for o in prepared.outcomes}
        assert errors["a"] is None
        assert isinstance(errors["b"], ConfigError)
        assert prepared.blocked
        with pytest.raises(HookctlError, match="nothing is to be applied"):
            runner.execute(prepared, opts)
    assert sandbox.hooks() == []


def test_the_runner_changes_nothing_it_is_given(
    sandbox: Sandbox, keys: None, tmp_path: Path
) -> None:
    opts = options(sandbox, parallelism=2, account_parallelism=2)
    files = [str(two_accounts(tmp_path, sandbox))]
    targets = chosen(files, None)
    [a] = [t for t in targets if t.account.name == "a"]
    [outcome] = runner.plan([a], opts)
    assert outcome.value is not None
    path = str(tmp_path / "plan.json")
    runner.save(path, a, outcome.value)
    saved = planfile.read_run(path)
    # Documents compare by identity (they keep the parsed file), so the targets are compared
    # element by element against a shallow copy; everything else against a deep one.
    targets_before = list(targets)
    given: tuple[list[str], Options, object] = (files, opts, saved)
    before = copy.deepcopy(given)

    runner.validate(targets, opts)
    runner.plan(targets, opts)
    runner.drift(targets, opts)
    chosen(files, None, saved)
    with runner.prepare([a], opts, saved) as prepared:
        [(_, planned)] = prepared.ready
        kept = copy.deepcopy((planned.desired, planned.live, planned.plan))
        [applied] = runner.execute(prepared, opts)
        assert (planned.desired, planned.live, planned.plan) == kept
    assert applied.value is not None and applied.value.ok

    assert given == before
    assert len(targets) == len(targets_before)
    assert all(now is then for now, then in zip(targets, targets_before, strict=True))
    assert isinstance(opts, Options)
    with pytest.raises(AttributeError):
        opts.force = True  # type: ignore[misc]
