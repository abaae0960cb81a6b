"""plan, apply and drift end to end: the CLI in-process against a live sandbox."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import Api
from jsonschema import Draft202012Validator

from hookctl.cli import main
from hookctl.sandbox import Faults, Sandbox

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return sandbox


def write_config(
    tmp_path: Path,
    sandbox: Sandbox,
    hooks: dict[str, list[str]],
    *,
    extra: str = "",
    name: str = "hooks.yaml",
) -> Path:
    """hooks.yaml managing everything under the sandbox receiver's /managed/ prefix; `hooks`
    maps a url path (below the receiver) to its event keys."""
    base = sandbox.receiver_url
    lines = [
        "version: 1",
        "account:\n  credentials:\n    api_key_env: KEAP_API_KEY",
        f"ownership:\n  url_prefixes: ['{base}/managed/']",
        extra,
    ]
    if hooks:
        lines.append("hooks:")
        for path, events in hooks.items():
            lines.append(
                f"  - name: {path.replace('/', '-')}\n    url: {base}/{path}\n"
                f"    events: [{', '.join(events)}]"
            )
    else:
        lines.append("hooks: []")
    config = tmp_path / name
    config.write_text("\n".join(line for line in lines if line) + "\n")
    return config


def writes(sandbox: Sandbox) -> dict[str, int]:
    return {call: n for call, n in sandbox.stats()["calls"].items() if not call.startswith("GET")}


MANY = {f"managed/r{i}": ["contact.add", "contact.edit", "order.add"] for i in range(4)}
TWO = {"managed/contacts": ["contact.add", "contact.edit"], "managed/orders": ["order.add"]}


# -- 1. plan ------------------------------------------------------------------------------------


def test_plan_detailed_exitcode_is_2_with_changes_and_0_without(
    env: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["plan", "-f", str(config), "--detailed-exitcode"]) == 2
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert main(["plan", "-f", str(config), "--detailed-exitcode"]) == 0


def test_plan_json_matches_the_plan_schema(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    env.seed([("contact.delete", f"{env.receiver_url}/managed/old", "Verified")])
    capsys.readouterr()
    assert main(["plan", "-f", str(config), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    Draft202012Validator(schema).validate(document)
    actions = sorted(change["action"] for change in document["changes"])
    assert actions == ["create", "create", "create", "delete"]


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        ("version: 1\nhooks:\n  - name: a\n    url: https://example.com/a\n", {}),
        ("version: 1\nhooks:\n  - name: a\n    url: [https://example.com/a\n", {}),
        # Whether x.y exists is the account's to say: one read of its event types, nothing else.
        (
            "version: 1\nhooks:\n  - name: a\n    url: https://example.com/a\n    events: [x.y]\n",
            {"GET /hooks/event_keys": 1},
        ),
    ],
    ids=["missing-events", "yaml-syntax", "unknown-event"],
)
def test_a_bad_hooks_yaml_exits_1_with_one_located_line_and_calls_nothing(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    calls: dict[str, int],
) -> None:
    config = tmp_path / "hooks.yaml"
    config.write_text(text)
    capsys.readouterr()
    assert main(["plan", "-f", str(config)]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"hookctl: error: {config}:") and "Traceback" not in err
    location = lines[0].split(f"{config}:", 1)[1].split(":", 1)[0]
    assert location.isdigit(), lines[0]
    assert env.stats()["calls"] == calls


# -- 2. apply -----------------------------------------------------------------------------------


def test_apply_creates_and_then_the_plan_is_empty_and_a_rerun_writes_nothing(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    pairs = sorted((h.event_key, h.hook_url.rsplit("/", 1)[1], h.status) for h in env.hooks())
    assert pairs == [
        ("contact.add", "contacts", "Verified"),
        ("contact.edit", "contacts", "Verified"),
        ("order.add", "orders", "Verified"),
    ]
    env.reset_stats()
    assert main(["plan", "-f", str(config), "--detailed-exitcode"]) == 0
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert "No changes" in capsys.readouterr().out
    assert writes(env) == {}
    assert env.stats()["calls"] == {"GET /hooks": 2}


def test_apply_of_n_creates_lists_once_before_posts_n_and_lists_once_after(
    env: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": 3}


def test_apply_creates_before_it_deletes_with_one_call_per_change(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], api_key: str
) -> None:
    env.seed([("contact.delete", f"{env.receiver_url}/managed/old", "Verified")])
    config = write_config(tmp_path, env, {"managed/new": ["contact.add"]})
    env.reset_stats()
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": 1, "DELETE /hooks/{key}": 1}
    [new] = env.hooks()
    assert new.pair == ("contact.add", f"{env.receiver_url}/managed/new")
    out, err = capsys.readouterr()
    # The report lists outcomes in the order they ran.
    assert out.index("done       create") < out.index("done       delete"), out
    assert api_key not in out + err


def test_a_moved_receiver_is_one_update_that_keeps_the_key(env: Sandbox, tmp_path: Path) -> None:
    [old] = env.seed([("contact.add", f"{env.receiver_url}/managed/old", "Verified")])
    config = write_config(tmp_path, env, {"managed/new": ["contact.add"]})
    env.reset_stats()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert env.stats()["calls"] == {"GET /hooks": 2, "PUT /hooks/{key}": 1}
    [moved] = env.hooks()
    assert moved.key == old.key and moved.hook_url.endswith("/managed/new")
    assert moved.status == "Verified"


def test_apply_json_stdout_is_the_report_alone(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve", "--format", "json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["ok"] is True and report["remaining"]["changes"] == []
    assert sorted(o["result"] for o in report["outcomes"]) == ["done"] * 3
    assert "contact.add" in captured.err  # the preview moved to stderr


def test_apply_json_with_nothing_to_change_is_still_json(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcomes"] == []


# -- 3. dry run and confirmation ----------------------------------------------------------------


def test_dry_run_writes_nothing(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--dry-run"]) == 0
    assert "contact.add" in capsys.readouterr().out
    assert writes(env) == {}
    assert env.hooks() == []


def test_apply_without_a_terminal_or_auto_approve_refuses_and_writes_nothing(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, env, TWO)
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert main(["apply", "-f", str(config)]) == 1
    assert "--auto-approve" in capsys.readouterr().err
    assert writes(env) == {}
    assert env.hooks() == []


# -- 4. drift -----------------------------------------------------------------------------------


def test_drift_is_0_in_sync_and_2_after_a_hand_delete(
    env: Sandbox, tmp_path: Path, api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert main(["drift", "-f", str(config)]) == 0
    victim = next(h for h in env.hooks() if h.event_key == "order.add")
    assert api.call("DELETE", f"/hooks/{victim.key}").status_code == 204
    capsys.readouterr()
    assert main(["drift", "-f", str(config)]) == 2
    assert "order.add" in capsys.readouterr().out


def test_drift_is_2_for_an_inactive_hook_and_says_verify(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    inactive = env.set_status(env.hooks()[0].key, "Inactive")
    capsys.readouterr()
    assert main(["drift", "-f", str(config)]) == 2
    [line] = [line for line in capsys.readouterr().out.splitlines() if f"#{inactive.key} " in line]
    assert "verify" in line and inactive.event_key in line


def test_apply_reactivates_an_inactive_hook_with_one_verify_call(
    env: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    inactive = env.set_status(env.hooks()[0].key, "Inactive")
    env.reset_stats()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks/{key}/verify": 1}
    assert {h.key: h.status for h in env.hooks()}[inactive.key] == "Verified"


def test_drift_is_1_on_a_wrong_key(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, env, TWO)
    monkeypatch.setenv("KEAP_API_KEY", "sbx-wrong-key-000")
    assert main(["drift", "-f", str(config)]) == 1
    err = capsys.readouterr().err
    assert "hookctl: error:" in err and "Traceback" not in err
    assert "sbx-wrong-key-000" not in err


# -- 5. saved plans -----------------------------------------------------------------------------


def save_plan(config: Path, tmp_path: Path) -> Path:
    planfile = tmp_path / "plan.json"
    assert main(["plan", "-f", str(config), "--out", str(planfile)]) == 0
    return planfile


def test_a_saved_plan_applies_and_finds_its_hooks_yaml_by_itself(
    env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, env, TWO)
    planfile = save_plan(config, tmp_path)
    monkeypatch.chdir(tmp_path.parent)  # no hooks.yaml here: the plan names its source
    env.reset_stats()
    assert main(["apply", str(planfile), "--auto-approve"]) == 0
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": 3}
    assert main(["plan", "-f", str(config), "--detailed-exitcode"]) == 0


def test_a_saved_plan_dry_run_sends_nothing(env: Sandbox, tmp_path: Path) -> None:
    config = write_config(tmp_path, env, TWO)
    planfile = save_plan(config, tmp_path)
    assert main(["apply", str(planfile), "--dry-run"]) == 0
    assert writes(env) == {} and env.hooks() == []


def test_a_saved_plan_is_refused_when_live_changed_since(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    planfile = save_plan(config, tmp_path)
    env.seed([("contact.delete", f"{env.receiver_url}/managed/late", "Verified")])
    env.reset_stats()
    capsys.readouterr()
    assert main(["apply", str(planfile), "-f", str(config), "--auto-approve"]) == 1
    err = capsys.readouterr().err
    assert "stale plan" in err and "live subscriptions changed" in err
    assert writes(env) == {}


def test_a_saved_plan_is_refused_when_hooks_yaml_changed_since(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    planfile = save_plan(config, tmp_path)
    write_config(tmp_path, env, {**TWO, "managed/extra": ["note.add"]})
    env.reset_stats()
    capsys.readouterr()
    assert main(["apply", str(planfile), "-f", str(config), "--auto-approve"]) == 1
    err = capsys.readouterr().err
    assert f"{config} changed since" in err and "live subscriptions" not in err
    assert writes(env) == {}


def test_a_hand_edited_saved_plan_is_refused(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    planfile = save_plan(config, tmp_path)
    document = json.loads(planfile.read_text())
    document["changes"][0]["hook_url"] = "https://evil.example.com/steal"
    planfile.write_text(json.dumps(document))
    env.reset_stats()
    capsys.readouterr()
    assert main(["apply", str(planfile), "-f", str(config), "--auto-approve"]) == 1
    assert "checksum" in capsys.readouterr().err
    assert writes(env) == {}
    assert env.hooks() == []


def test_a_saved_plan_is_refused_against_another_account(
    env: Sandbox,
    tmp_path: Path,
    api_key: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, env, TWO)
    planfile = save_plan(config, tmp_path)
    with Sandbox(api_key=api_key) as other:
        monkeypatch.setenv("KEAP_API_URL", other.api_url)
        capsys.readouterr()
        assert main(["apply", str(planfile), "-f", str(config), "--auto-approve"]) == 1
        assert env.api_url in capsys.readouterr().err
        assert writes(other) == {} and other.hooks() == []


# -- 6. safety ----------------------------------------------------------------------------------


def seed_managed(sandbox: Sandbox, count: int) -> None:
    sandbox.seed(
        [("contact.add", f"{sandbox.receiver_url}/managed/n{i}", "Verified") for i in range(count)]
    )


def test_deleting_most_managed_hooks_needs_force(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_managed(env, 12)
    config = write_config(
        tmp_path, env, {"managed/n0": ["contact.add"], "managed/n1": ["contact.add"]}
    )
    env.reset_stats()
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 1
    assert "--force" in capsys.readouterr().err
    assert writes(env) == {}
    assert len(env.hooks()) == 12
    assert main(["apply", "-f", str(config), "--auto-approve", "--force"]) == 0
    assert sorted(h.hook_url.rsplit("/", 1)[1] for h in env.hooks()) == ["n0", "n1"]


def test_an_empty_hooks_yaml_deletes_nothing_without_allow_empty(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_managed(env, 3)
    config = write_config(tmp_path, env, {})
    env.reset_stats()
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve", "--force"]) == 1
    assert "--allow-empty" in capsys.readouterr().err
    assert writes(env) == {}
    assert len(env.hooks()) == 3
    assert main(["apply", "-f", str(config), "--auto-approve", "--allow-empty"]) == 0
    assert env.hooks() == []


# -- 7. partial failure -------------------------------------------------------------------------


def test_a_failure_under_faults_exits_1_and_a_rerun_finishes_without_duplicates(
    env: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path, env, MANY)
    env.set_faults(Faults(error_rate=0.5, seed=1))
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 1
    env.set_faults(Faults())
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    pairs = [(h.event_key, h.hook_url) for h in env.hooks()]
    assert len(pairs) == len(set(pairs)) == 12


def test_a_partly_applied_plan_exits_1_and_a_rerun_adds_only_what_is_missing(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With seed 1 the first GET /hooks already fails (a 500 is not retried), so nothing is
    # written; seed 2 with one worker lets the list through and fails some creates midway.
    config = write_config(tmp_path, env, MANY)
    env.set_faults(Faults(error_rate=0.5, seed=2))
    argv = ["apply", "-f", str(config), "--auto-approve", "--parallelism", "1"]
    assert main(argv) == 1
    assert 0 < len(env.hooks()) < 12, "the faults should fail some creates, not all"
    assert "failed" in capsys.readouterr().out
    env.set_faults(Faults())
    assert main(argv) == 0
    pairs = [(h.event_key, h.hook_url) for h in env.hooks()]
    assert len(pairs) == len(set(pairs)) == 12


def test_creates_whose_answers_are_lost_are_not_made_twice(env: Sandbox, tmp_path: Path) -> None:
    config = write_config(tmp_path, env, MANY)
    env.set_faults(Faults(drop_after_create=3))
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    pairs = [(h.event_key, h.hook_url) for h in env.hooks()]
    assert len(pairs) == len(set(pairs)) == 12
    assert env.stats()["calls"]["POST /hooks"] == 12


def test_gateway_502_pages_are_retried_and_the_apply_converges(
    env: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path, env, TWO)
    env.set_faults(Faults(html_error_rate=0.3, seed=3))
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert env.stats()["responses"].get("502", 0) > 0, "the faults should have hit"
    env.set_faults(Faults())
    assert main(["plan", "-f", str(config), "--detailed-exitcode"]) == 0
    assert len(env.hooks()) == 3


# -- 8. unmanaged -------------------------------------------------------------------------------


def test_an_unmanaged_hook_on_another_host_is_left_exactly_as_it_was(
    env: Sandbox, tmp_path: Path
) -> None:
    [zapier] = env.seed([("contact.add", "https://hooks.zapier.com/x", "Verified")])
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert [h for h in env.hooks() if h.key == zapier.key] == [zapier]
    assert len(env.hooks()) == 4


# -- 9. handshake -------------------------------------------------------------------------------


def test_a_receiver_that_fails_the_handshake_makes_apply_exit_1_and_says_so(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, {"fail/managed": ["contact.add"]})
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 1
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "did not answer" in text and "handshake" in text
