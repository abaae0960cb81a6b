"""Saved plans end to end (`plan --out`, then `apply PLANFILE`): the CLI in-process against a
live sandbox (conftest's env and config)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from helpers.cli import TWO, Cli, seed_every_kind_of_change, write_config, writes

from hookctl.engine.planfile import _checksum as planfile_checksum
from hookctl.sandbox import Sandbox, SandboxSettings


def save_plan(cli: Cli, config: Path, tmp_path: Path) -> Path:
    planfile = tmp_path / "plan.json"
    cli.run("plan", "-f", str(config), "--out", str(planfile))
    return planfile


@pytest.fixture
def planfile(config: Path, tmp_path: Path, cli: Cli) -> Path:
    """The plan for conftest's config against env's account as it is when the test starts."""
    return save_plan(cli, config, tmp_path)


def test_a_saved_plan_applies_and_finds_its_hooks_yaml_by_itself(
    env: Sandbox,
    config: Path,
    planfile: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    monkeypatch.chdir(tmp_path.parent)  # no hooks.yaml here: the plan names its source
    env.reset_stats()
    cli.run("apply", str(planfile), "--auto-approve")
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": 3}
    cli.run("plan", "-f", str(config), "--detailed-exitcode")


def test_a_saved_plan_dry_run_sends_nothing(env: Sandbox, planfile: Path, cli: Cli) -> None:
    cli.run("apply", str(planfile), "--dry-run")
    assert writes(env) == {} and env.hooks() == []


def test_a_saved_plan_is_refused_when_live_changed_since(
    env: Sandbox, config: Path, planfile: Path, cli: Cli
) -> None:
    env.seed([("contact.delete", f"{env.receiver_url}/managed/late", "Verified")])
    env.reset_stats()
    result = cli.run("apply", str(planfile), "-f", str(config), "--auto-approve", status=1)
    err = result.err
    assert "stale plan" in err and "live subscriptions changed" in err
    assert writes(env) == {}


def test_a_saved_plan_is_refused_when_hooks_yaml_changed_since(
    env: Sandbox,
    config: Path,
    planfile: Path,
    tmp_path: Path,
    cli: Cli,
) -> None:
    write_config(tmp_path, env, {**TWO, "managed/extra": ["note.add"]})
    env.reset_stats()
    result = cli.run("apply", str(planfile), "-f", str(config), "--auto-approve", status=1)
    err = result.err
    assert f"{config} or its environment changed since" in err
    assert "live subscriptions" not in err
    assert writes(env) == {}


def test_a_hand_edited_saved_plan_is_refused(
    env: Sandbox, config: Path, planfile: Path, cli: Cli
) -> None:
    document = json.loads(planfile.read_text())
    document["changes"][0]["hook_url"] = "https://evil.example.com/steal"
    planfile.write_text(json.dumps(document))
    env.reset_stats()
    result = cli.run("apply", str(planfile), "-f", str(config), "--auto-approve", status=1)
    assert "checksum" in result.err
    assert writes(env) == {}
    assert env.hooks() == []


def test_a_saved_plan_is_refused_against_another_account(
    env: Sandbox,
    config: Path,
    planfile: Path,
    api_key: str,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Sandbox(SandboxSettings(api_key=api_key)) as other:
        monkeypatch.setenv("KEAP_API_URL", other.api_url)
        result = cli.run("apply", str(planfile), "-f", str(config), "--auto-approve", status=1)
        assert env.api_url in result.err
        assert writes(other) == {} and other.hooks() == []


def test_a_plan_file_is_readable_by_its_owner_only_and_applies_with_one_call_per_change(
    env: Sandbox, config: Path, tmp_path: Path, cli: Cli
) -> None:
    seed_every_kind_of_change(env)
    planfile = save_plan(cli, config, tmp_path)  # of the seeded account, so not the fixture
    assert stat.S_IMODE(planfile.stat().st_mode) == 0o600
    env.reset_stats()
    cli.run("apply", str(planfile), "--auto-approve")
    assert env.stats()["calls"] == {
        "GET /hooks": 2,
        "POST /hooks": 1,
        "PUT /hooks/{key}": 1,
        "POST /hooks/{key}/verify": 1,
        "DELETE /hooks/{key}": 1,
    }
    # Applied once, the plan is stale: a second apply of the same file is refused, unwritten.
    env.reset_stats()
    cli.run("apply", str(planfile), "--auto-approve", status=1)
    assert env.stats()["calls"] == {"GET /hooks": 1}


def test_a_plan_saved_by_an_older_hookctl_is_refused_in_one_line(
    env: Sandbox, config: Path, planfile: Path, cli: Cli
) -> None:
    """Format 1 plans were applied as written; their digest covers the raw hooks.yaml only,
    so they cannot be checked against the plan made again."""
    document = json.loads(planfile.read_text())
    document.pop("checksum")
    document["format_version"] = 1
    document["checksum"] = planfile_checksum(document)
    planfile.write_text(json.dumps(document))
    env.reset_stats()
    result = cli.run("apply", str(planfile), "-f", str(config), "--auto-approve", status=1)
    err = result.err
    assert err.count("\n") == 1
    assert f"{planfile}: made by an older hookctl (plan format 1;" in err
    assert "plan again with `hookctl plan --out FILE`" in err
    assert env.stats()["calls"] == {}
