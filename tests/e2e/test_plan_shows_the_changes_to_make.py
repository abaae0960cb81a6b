"""plan end to end: the CLI in-process against a live sandbox (conftest's env and config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import CLOSED_PORT, Cli, Tty, seed_managed, validator, write_config

from hookctl.sandbox import Sandbox


def test_plan_detailed_exitcode_is_2_with_changes_and_0_without(config: Path, cli: Cli) -> None:
    cli.run("plan", "-f", str(config), "--detailed-exitcode", status=2)
    cli.run("apply", "-f", str(config), "--auto-approve")
    cli.run("plan", "-f", str(config), "--detailed-exitcode")


def test_plan_json_matches_the_plan_schema(env: Sandbox, config: Path, cli: Cli) -> None:
    env.seed([("contact.delete", f"{env.receiver_url}/managed/old", "Verified")])
    result = cli.run("plan", "-f", str(config), "--format", "json")
    document = json.loads(result.out)
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
    cli: Cli,
    text: str,
    calls: dict[str, int],
) -> None:
    config = tmp_path / "hooks.yaml"
    config.write_text(text)
    result = cli.run("plan", "-f", str(config), status=1)
    err = result.err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"hookctl: error: {config}:") and "Traceback" not in err
    location = lines[0].split(f"{config}:", 1)[1].split(":", 1)[0]
    assert location.isdigit(), lines[0]
    assert env.stats()["calls"] == calls


def test_plan_prints_text_markdown_or_json_for_one_list_call_each(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    [old] = env.seed([("contact.delete", f"{env.receiver_url}/managed/old", "Verified")])
    outputs = {}
    for fmt in ("text", "markdown", "json"):
        env.reset_stats()
        result = cli.run("plan", "-f", str(config), "--format", fmt)
        outputs[fmt] = result.out
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
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = write_config(tmp_path, env, {"managed/contacts": ['"contact.*"']})
    result = cli.run("plan", "-f", str(config), "--format", "json")
    changes = json.loads(result.out)["changes"]
    assert sorted(c["event_key"] for c in changes) == [
        "contact.add",
        "contact.delete",
        "contact.edit",
        "contact.redact",
    ]
    assert env.stats()["calls"] == {"GET /hooks/event_keys": 1, "GET /hooks": 1}


def test_plan_with_a_wrong_key_exits_1_with_one_line_naming_the_variable(
    env: Sandbox,
    config: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", "sbx-revoked-key-123")
    result = cli.run("plan", "-f", str(config), status=1)
    out, err = result.out, result.err
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("hookctl: error: GET /hooks -> HTTP 401") and "KEAP_API_KEY" in line
    assert "sbx-revoked-key-123" not in err
    assert env.stats()["calls"] == {"GET /hooks": 1}


@pytest.mark.usefixtures("unreachable_api")
def test_plan_against_an_unreachable_api_exits_1_naming_the_url(config: Path, cli: Cli) -> None:
    result = cli.run("plan", "-f", str(config), status=1)
    out, err = result.out, result.err
    assert out == "" and "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("hookctl: error: GET /hooks: cannot connect") and CLOSED_PORT in last


@pytest.mark.usefixtures("unreachable_api")
def test_api_url_overrides_the_environment(env: Sandbox, config: Path, cli: Cli) -> None:
    for command in ("plan", "drift"):
        assert cli.run(
            command, "-f", str(config), "--api-url", env.api_url, status=None
        ).status in (0, 2)
    argv = ["apply", "-f", str(config), "--api-url", env.api_url, "--auto-approve"]
    cli.run(*argv)
    assert len(env.hooks()) == 3


def test_plan_colours_only_a_terminal_and_never_with_no_color(
    config: Path, tty: Tty, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    result = cli.run("plan", "-f", str(config))
    assert "\033[" not in result.out  # not a terminal
    terminal = tty("sys.stdout")
    cli.run("plan", "-f", str(config))
    assert "\033[32m+ create" in terminal.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    terminal = tty("sys.stdout")
    cli.run("plan", "-f", str(config))
    assert "+ create" in terminal.getvalue() and "\033[" not in terminal.getvalue()


# -- safety: a plan that deletes most of what is managed is refused ------------------------------


def test_plan_refuses_a_mass_delete_and_saves_no_plan_file_unless_forced(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    seed_managed(env, 10)
    # 3 of 10 deletes is 30%, at the limit: allowed. 4 of 10 is over it.
    keep = {f"managed/n{i}": ["contact.add"] for i in range(7)}
    cli.run("plan", "-f", str(write_config(tmp_path, env, keep)))
    config = write_config(tmp_path, env, {f"managed/n{i}": ["contact.add"] for i in range(6)})
    planfile = tmp_path / "plan.json"
    result = cli.run("plan", "-f", str(config), "--out", str(planfile), status=1)
    [line] = result.err.splitlines()
    assert line == (
        "hookctl: error: refusing a plan that would delete 4 of 10 managed subscriptions "
        "(40%, limit 30%); check it, then use --force to apply it anyway"
    )
    assert not planfile.exists()
    cli.run("plan", "-f", str(config), "--out", str(planfile), "--force")
    cli.run("apply", str(planfile), "--auto-approve", status=1)  # the file does not force
    cli.run("apply", str(planfile), "--auto-approve", "--force")
    assert len(env.hooks()) == 6


def test_a_saved_plan_is_announced_not_warned_and_drift_markdown_says_drift(
    config: Path, tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "plan.json"
    result = cli.run("plan", "-f", str(config), "--out", str(out))
    err = result.err
    assert f"hookctl: plan saved to {out}; apply it with: hookctl apply {out}" in err
    assert "WARNING" not in err
    result = cli.run("drift", "-f", str(config), "--format", "markdown", status=2)
    assert result.out.startswith("### hookctl drift")
