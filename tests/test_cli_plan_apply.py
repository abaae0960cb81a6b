"""plan, apply and drift end to end: the CLI in-process against a live sandbox."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from conftest import Api
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

import hookctl.keap as keap_module
from hookctl.cli import main
from hookctl.keap import RetryPolicy
from hookctl.sandbox import Faults, Sandbox

ROOT = Path(__file__).resolve().parents[1]
CLOSED_PORT = "http://127.0.0.1:9/crm/rest/v1"


def validator(name: str) -> Draft202012Validator:
    """A validator for schemas/NAME; the drift schema refers to the plan schema by its $id."""
    schema, plan = (
        json.loads((ROOT / "schemas" / n).read_text()) for n in (name, "plan.schema.json")
    )
    registry: Registry = Registry().with_resource(plan["$id"], Resource.from_contents(plan))
    return Draft202012Validator(schema, registry=registry)


class Terminal(io.StringIO):
    """A stdin or stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


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
    validator("plan.schema.json").validate(document)
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


def test_plan_prints_text_markdown_or_json_for_one_list_call_each(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [old] = env.seed([("contact.delete", f"{env.receiver_url}/managed/old", "Verified")])
    config = write_config(tmp_path, env, TWO)
    outputs = {}
    for fmt in ("text", "markdown", "json"):
        env.reset_stats()
        capsys.readouterr()
        assert main(["plan", "-f", str(config), "--format", fmt]) == 0
        outputs[fmt] = capsys.readouterr().out
        # Known event keys need no GET /hooks/event_keys: a plan is one list and nothing else.
        assert env.stats()["calls"] == {"GET /hooks": 1}, fmt
    assert "+ create" in outputs["text"] and "- delete" in outputs["text"]
    assert "3 to create, 1 to delete; 0 unchanged, 0 unmanaged" in outputs["text"]
    assert outputs["markdown"].startswith("### hookctl plan")
    assert "| 🔴 | delete |" in outputs["markdown"] and f"| {old.key} |" in outputs["markdown"]
    assert json.loads(outputs["json"])["summary"] == {
        "create": 3,
        "update": 0,
        "verify": 0,
        "delete": 1,
        "unchanged": 0,
        "unmanaged": 0,
    }


def test_a_plan_reads_the_event_types_once_only_for_a_wildcard(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, {"managed/contacts": ['"contact.*"']})
    capsys.readouterr()
    assert main(["plan", "-f", str(config), "--format", "json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert sorted(c["event_key"] for c in changes) == [
        "contact.add",
        "contact.delete",
        "contact.edit",
        "contact.redact",
    ]
    assert env.stats()["calls"] == {"GET /hooks/event_keys": 1, "GET /hooks": 1}


def test_plan_with_a_wrong_key_exits_1_with_one_line_naming_the_variable(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, env, TWO)
    monkeypatch.setenv("KEAP_API_KEY", "sbx-revoked-key-123")
    capsys.readouterr()
    assert main(["plan", "-f", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("hookctl: error: GET /hooks -> HTTP 401") and "KEAP_API_KEY" in line
    assert "sbx-revoked-key-123" not in err
    assert env.stats()["calls"] == {"GET /hooks": 1}


def test_plan_against_an_unreachable_api_exits_1_naming_the_url(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The client's retry rules are tested in test_keap; one quick retry keeps this fast.
    monkeypatch.setattr(keap_module, "RetryPolicy", partial(RetryPolicy, backoff_base=0.01))
    config = write_config(tmp_path, env, TWO)
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)
    capsys.readouterr()
    assert main(["plan", "-f", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("hookctl: error: GET /hooks: cannot connect") and CLOSED_PORT in last


def test_api_url_overrides_the_environment(
    env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, env, TWO)
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)
    for command in ("plan", "drift"):
        assert main([command, "-f", str(config), "--api-url", env.api_url]) in (0, 2)
    argv = ["apply", "-f", str(config), "--api-url", env.api_url, "--auto-approve"]
    assert main(argv) == 0
    assert len(env.hooks()) == 3


def test_plan_colours_only_a_terminal_and_never_with_no_color(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, env, TWO)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["plan", "-f", str(config)]) == 0
    assert "\033[" not in capsys.readouterr().out  # not a terminal
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert main(["plan", "-f", str(config)]) == 0
    assert "\033[32m+ create" in terminal.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert main(["plan", "-f", str(config)]) == 0
    assert "+ create" in terminal.getvalue() and "\033[" not in terminal.getvalue()


def test_apply_json_previews_on_stderr_coloured_for_stderr_not_stdout(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, env, TWO)
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--dry-run", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["dry_run"] is True
    assert "\033[32m+ create" in terminal.getvalue()


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


def seed_every_kind_of_change(sandbox: Sandbox) -> dict[str, str]:
    """A live account against which TWO plans one change of each action; returns their keys."""
    base = f"{sandbox.receiver_url}/managed"
    moved, unverified, stale = sandbox.seed(
        [
            ("contact.add", f"{base}/old-contacts", "Verified"),  # receiver moved: update
            ("order.add", f"{base}/orders", "Unverified"),  # declared, not Verified: verify
            ("note.add", f"{base}/stale", "Verified"),  # no longer declared: delete
        ]
    )
    return {"update": moved.key, "verify": unverified.key, "delete": stale.key}


def test_apply_runs_creates_and_updates_then_verifies_then_deletes_one_call_each(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = seed_every_kind_of_change(env)
    config = write_config(tmp_path, env, TWO)
    env.reset_stats()
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve", "--format", "json"]) == 0
    assert env.stats()["calls"] == {
        "GET /hooks": 2,
        "POST /hooks": 1,
        "PUT /hooks/{key}": 1,
        "POST /hooks/{key}/verify": 1,
        "DELETE /hooks/{key}": 1,
    }
    report = json.loads(capsys.readouterr().out)
    assert [(o["action"], o["key"], o["result"]) for o in report["outcomes"]] == [
        ("create", None, "done"),
        ("update", keys["update"], "done"),
        ("verify", keys["verify"], "done"),
        ("delete", keys["delete"], "done"),
    ]
    assert report["ok"] and report["converged"]
    live = {h.key: h for h in env.hooks()}
    assert keys["delete"] not in live
    assert live[keys["update"]].hook_url.endswith("/managed/contacts")  # PUT kept the key
    assert all(h.status == "Verified" for h in live.values())


def test_apply_deletes_duplicates_keeping_the_verified_copy_then_the_oldest(
    env: Sandbox, tmp_path: Path
) -> None:
    contacts = f"{env.receiver_url}/managed/contacts"
    orders = f"{env.receiver_url}/managed/orders"
    seeded = env.seed(
        [
            ("contact.add", contacts, "Unverified"),
            ("contact.add", contacts, "Verified"),  # kept: the oldest Verified copy
            ("contact.add", contacts, "Verified"),
            ("order.add", orders, "Inactive"),  # kept: none is Verified, so the oldest
            ("order.add", orders, "Unverified"),
        ]
    )
    config = write_config(tmp_path, env, TWO)
    env.reset_stats()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert env.stats()["calls"] == {
        "GET /hooks": 2,
        "POST /hooks": 1,  # contact.edit
        "POST /hooks/{key}/verify": 1,
        "DELETE /hooks/{key}": 3,
    }
    kept = {h.key for h in env.hooks()}
    assert {seeded[1].key, seeded[3].key} <= kept
    assert kept.isdisjoint({seeded[0].key, seeded[2].key, seeded[4].key})
    assert len(env.hooks()) == 3


def test_apply_on_a_terminal_asks_and_goes_on_only_after_yes(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, env, TWO)
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert main(["apply", "-f", str(config)]) == 1
    assert "Cancelled" in capsys.readouterr().err
    assert writes(env) == {}
    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    assert main(["apply", "-f", str(config)]) == 0
    assert "Only 'yes' is accepted" in capsys.readouterr().err
    assert writes(env) == {"POST /hooks": 3}


def test_apply_in_a_process_without_a_terminal_refuses_and_writes_nothing(
    env: Sandbox, tmp_path: Path, api_key: str
) -> None:
    config = write_config(tmp_path, env, TWO)
    done = subprocess.run(
        [sys.executable, "-m", "hookctl", "apply", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KEAP_API_URL": env.api_url, "KEAP_API_KEY": api_key},
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "hookctl: error: refusing to go on without confirmation: there is no terminal to ask "
        "on (review first, then add --auto-approve)"
    )
    assert "Traceback" not in done.stderr and api_key not in done.stdout + done.stderr
    assert env.stats()["calls"] == {"GET /hooks": 1}


def test_a_dry_run_of_every_kind_of_change_sends_no_write(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_every_kind_of_change(env)
    before = env.hooks()
    config = write_config(tmp_path, env, TWO)
    env.reset_stats()
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--dry-run", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True
    assert [o["result"] for o in report["outcomes"]] == ["planned"] * 4
    assert env.stats()["calls"] == {"GET /hooks": 1}
    assert env.hooks() == before


def test_apply_shows_progress_on_stderr_only_when_it_is_a_terminal(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, env, TWO)
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve", "--format", "json"]) == 0
    assert capsys.readouterr().err.count("  done       create") == 0
    for hook in env.hooks():
        env.set_status(hook.key, "Inactive")
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["apply", "-f", str(config), "--auto-approve", "--format", "json"]) == 0
    assert terminal.getvalue().count("  done       verify") == 3


def test_an_inactive_hook_whose_event_changed_is_updated_and_reactivated_in_one_apply(
    env: Sandbox, tmp_path: Path
) -> None:
    # A PUT that keeps the url runs no handshake, so the update alone would leave it Inactive.
    [hook] = env.seed([("contact.delete", f"{env.receiver_url}/managed/orders", "Inactive")])
    config = write_config(tmp_path, env, TWO)
    env.reset_stats()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert env.stats()["calls"] == {
        "GET /hooks": 2,
        "POST /hooks": 2,
        "PUT /hooks/{key}": 1,
        "POST /hooks/{key}/verify": 1,
    }
    assert {h.key: (h.event_key, h.status) for h in env.hooks()}[hook.key] == (
        "order.add",
        "Verified",
    )


def test_an_interrupted_apply_sends_no_queued_write_and_a_rerun_finishes_it(
    env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(outcome: object) -> None:
        raise KeyboardInterrupt

    config = write_config(tmp_path, env, MANY)
    argv = ["apply", "-f", str(config), "--auto-approve", "--parallelism", "1"]
    with monkeypatch.context() as patch:
        patch.setattr("sys.stderr", Terminal())  # progress is shown, and Ctrl-C comes in
        patch.setattr("hookctl.cli._progress", lambda label, show: interrupt)
        assert main(argv) == 130
    # The create reported when Ctrl-C came, and the one the worker had picked up next (with
    # one to spare for a slow machine); none of the 12 still queued is sent.
    assert 1 <= env.stats()["calls"]["POST /hooks"] <= 3, env.stats()
    assert main(argv) == 0
    pairs = [h.pair for h in env.hooks()]
    assert len(pairs) == len(set(pairs)) == 12


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


def test_drift_catches_a_url_changed_by_hand_and_an_unverified_hook(
    env: Sandbox, tmp_path: Path, api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, TWO)
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    orders = next(h for h in env.hooks() if h.event_key == "order.add")
    moved_to = f"{env.receiver_url}/managed/by-hand"
    body = {"eventKey": "order.add", "hookUrl": moved_to}
    assert api.call("PUT", f"/hooks/{orders.key}", body).status_code == 200
    contacts = next(h for h in env.hooks() if h.event_key == "contact.add")
    unverified = env.set_status(contacts.key, "Unverified")
    env.reset_stats()
    capsys.readouterr()
    assert main(["drift", "-f", str(config), "--format", "json"]) == 2
    assert env.stats()["calls"] == {"GET /hooks": 1}
    report = json.loads(capsys.readouterr().out)
    validator("drift.schema.json").validate(report)
    changes = {(c["action"], c["key"]): c for c in report["changes"]}
    assert set(changes) == {("update", orders.key), ("verify", unverified.key)}
    assert changes["update", orders.key]["old_hook_url"] == moved_to
    assert changes["verify", unverified.key]["status"] == "Unverified"
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert main(["drift", "-f", str(config)]) == 0


def test_drift_is_1_when_the_api_is_unreachable(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keap_module, "RetryPolicy", partial(RetryPolicy, backoff_base=0.01))
    config = write_config(tmp_path, env, TWO)
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)
    capsys.readouterr()
    assert main(["drift", "-f", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "cannot connect" in err.splitlines()[-1]


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


def test_a_plan_file_is_readable_by_its_owner_only_and_applies_with_one_call_per_change(
    env: Sandbox, tmp_path: Path
) -> None:
    seed_every_kind_of_change(env)
    config = write_config(tmp_path, env, TWO)
    planfile = save_plan(config, tmp_path)
    assert stat.S_IMODE(planfile.stat().st_mode) == 0o600
    env.reset_stats()
    assert main(["apply", str(planfile), "--auto-approve"]) == 0
    assert env.stats()["calls"] == {
        "GET /hooks": 2,
        "POST /hooks": 1,
        "PUT /hooks/{key}": 1,
        "POST /hooks/{key}/verify": 1,
        "DELETE /hooks/{key}": 1,
    }
    # Applied once, the plan is stale: a second apply of the same file is refused, unwritten.
    env.reset_stats()
    assert main(["apply", str(planfile), "--auto-approve"]) == 1
    assert env.stats()["calls"] == {"GET /hooks": 1}


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


def test_plan_refuses_a_mass_delete_and_saves_no_plan_file_unless_forced(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_managed(env, 10)
    # 3 of 10 deletes is 30%, at the limit: allowed. 4 of 10 is over it.
    keep = {f"managed/n{i}": ["contact.add"] for i in range(7)}
    assert main(["plan", "-f", str(write_config(tmp_path, env, keep))]) == 0
    config = write_config(tmp_path, env, {f"managed/n{i}": ["contact.add"] for i in range(6)})
    planfile = tmp_path / "plan.json"
    capsys.readouterr()
    assert main(["plan", "-f", str(config), "--out", str(planfile)]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        "hookctl: error: refusing a plan that would delete 4 of 10 managed subscriptions "
        "(40%, limit 30%); check it, then use --force to apply it anyway"
    )
    assert not planfile.exists()
    assert main(["plan", "-f", str(config), "--out", str(planfile), "--force"]) == 0
    assert main(["apply", str(planfile), "--auto-approve"]) == 1  # the file does not force
    assert main(["apply", str(planfile), "--auto-approve", "--force"]) == 0
    assert len(env.hooks()) == 6


def test_safety_thresholds_come_from_hooks_yaml(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_managed(env, 4)
    strict = "safety:\n  min_existing: 2\n  max_delete_ratio: 0.2"
    config = write_config(tmp_path, env, {"managed/n0": ["contact.add"]}, extra=strict)
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 1
    assert "delete 3 of 4 managed subscriptions (75%, limit 20%)" in capsys.readouterr().err
    assert writes(env) == {}


# -- 7. partial failure -------------------------------------------------------------------------


def test_a_first_list_answered_500_exits_1_with_one_line_and_writes_nothing(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, env, MANY)
    env.set_faults(Faults(error_rate=1.0))
    capsys.readouterr()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == "hookctl: error: GET /hooks -> HTTP 500: Internal Server Error\n"
    assert env.stats()["calls"] == {"GET /hooks": 1}  # Keap's own 500 is not retried
    env.set_faults(Faults())
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 0
    assert len(env.hooks()) == 12


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


def test_a_partial_failure_reports_every_change_and_a_rerun_writes_only_what_failed(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Seeded faults with one worker repeat exactly: with seed 2 both lists go through and
    # 4 of the 12 creates are answered 500 (each then listed once to rule out a landed create).
    config = write_config(tmp_path, env, MANY)
    env.set_faults(Faults(error_rate=0.5, seed=2))
    argv = ["apply", "-f", str(config), "--auto-approve", "--parallelism", "1"]
    capsys.readouterr()
    assert main([*argv, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    outcomes = report["outcomes"]
    assert len(outcomes) == 12 and {o["action"] for o in outcomes} == {"create"}
    failed = [o for o in outcomes if o["result"] == "failed"]
    assert report["counts"] == {"done": 12 - len(failed), "failed": len(failed)}
    assert failed and all("HTTP 500" in o["detail"] for o in failed)
    assert report["ok"] is False and report["remaining"]["summary"]["create"] == len(failed)
    assert len(env.hooks()) == 12 - len(failed)

    env.set_faults(Faults())
    env.reset_stats()
    assert main(argv) == 0
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": len(failed)}
    pairs = [h.pair for h in env.hooks()]
    assert len(pairs) == len(set(pairs)) == 12
    assert all(h.status == "Verified" for h in env.hooks())


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
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("unverified")]
    assert "create" in line and "did not answer Keap's X-Hook-Secret handshake" in line
    assert "1 hook not Verified" in out.splitlines()[-1]
    [hook] = env.hooks()
    assert hook.status == "Unverified"
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": 1}
    # A rerun tries the handshake again (one verify), and still says so; it creates nothing.
    env.reset_stats()
    assert main(["apply", "-f", str(config), "--auto-approve"]) == 1
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks/{key}/verify": 1}
    assert env.hooks() == [hook]


# -- 10. secrets --------------------------------------------------------------------------------


def test_the_api_key_never_shows_in_plan_apply_or_drift_output_even_at_debug_level(
    env: Sandbox,
    tmp_path: Path,
    api_key: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keap_module, "RetryPolicy", partial(RetryPolicy, backoff_base=0.01))
    seed_every_kind_of_change(env)
    config = write_config(tmp_path, env, TWO)
    planfile = tmp_path / "plan.json"
    fail = write_config(tmp_path, env, {"fail/x": ["contact.add"]}, name="fail.yaml")
    seen = []

    def run(*argv: str) -> int:
        status = main(["-vv", *argv])
        captured = capsys.readouterr()
        seen.append(captured.out + captured.err)
        return status

    assert run("validate", "-f", str(config)) == 0
    assert run("plan", "-f", str(config), "--out", str(planfile), "--format", "json") == 0
    assert run("apply", str(planfile), "--dry-run") == 0
    assert run("apply", "-f", str(config)) == 1  # no terminal to ask on
    env.set_faults(Faults(error_rate=0.5, seed=2))
    assert run("apply", "-f", str(config), "--auto-approve", "--parallelism", "1") == 1
    assert "HTTP 500" in seen[-1]  # a change failed, and its error was shown
    env.set_faults(Faults())
    assert run("apply", str(planfile), "--auto-approve") == 1  # stale now
    assert run("apply", "-f", str(config), "--auto-approve", "--format", "markdown") == 0
    assert run("apply", "-f", str(fail), "--auto-approve", "--allow-empty", "--force") == 1
    assert run("drift", "-f", str(config), "--format", "json") == 2
    monkeypatch.setenv("KEAP_API_KEY", api_key + "-rotated")
    assert run("drift", "-f", str(config)) == 1
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)
    assert run("plan", "-f", str(config)) == 1

    everything = "\n".join(seen) + planfile.read_text()
    assert "hookctl: DEBUG: GET /hooks -> 200" in everything  # -vv did log the calls
    assert api_key not in everything
