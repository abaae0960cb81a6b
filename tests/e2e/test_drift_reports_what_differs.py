"""drift end to end: the CLI in-process against a live sandbox (conftest's env and config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Api
from helpers.cli import Cli, validator

from hookctl.sandbox import Sandbox


def test_drift_is_0_in_sync_and_2_after_a_hand_delete(
    env: Sandbox, config: Path, api: Api, cli: Cli
) -> None:
    cli.run("apply", "-f", str(config), "--auto-approve")
    cli.run("drift", "-f", str(config))
    victim = next(h for h in env.hooks() if h.event_key == "order.add")
    assert api.call("DELETE", f"/hooks/{victim.key}").status_code == 204
    result = cli.run("drift", "-f", str(config), status=2)
    assert "order.add" in result.out


def test_drift_is_2_for_an_inactive_hook_and_says_verify(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    cli.run("apply", "-f", str(config), "--auto-approve")
    inactive = env.set_status(env.hooks()[0].key, "Inactive")
    result = cli.run("drift", "-f", str(config), status=2)
    [line] = [line for line in result.out.splitlines() if f"#{inactive.key} " in line]
    assert "verify" in line and inactive.event_key in line


def test_drift_is_1_on_a_wrong_key(config: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEAP_API_KEY", "sbx-wrong-key-000")
    result = cli.run("drift", "-f", str(config), status=1)
    err = result.err
    assert "hookctl: error:" in err and "Traceback" not in err
    assert "sbx-wrong-key-000" not in err


def test_drift_catches_a_url_changed_by_hand_and_an_unverified_hook(
    env: Sandbox, config: Path, api: Api, cli: Cli
) -> None:
    cli.run("apply", "-f", str(config), "--auto-approve")
    orders = next(h for h in env.hooks() if h.event_key == "order.add")
    moved_to = f"{env.receiver_url}/managed/by-hand"
    body = {"eventKey": "order.add", "hookUrl": moved_to}
    assert api.call("PUT", f"/hooks/{orders.key}", body).status_code == 200
    contacts = next(h for h in env.hooks() if h.event_key == "contact.add")
    unverified = env.set_status(contacts.key, "Unverified")
    env.reset_stats()
    result = cli.run("drift", "-f", str(config), "--format", "json", status=2)
    assert env.stats()["calls"] == {"GET /hooks": 1}
    report = json.loads(result.out)
    validator("drift.schema.json").validate(report)
    changes = {(c["action"], c["key"]): c for c in report["changes"]}
    assert set(changes) == {("update", orders.key), ("verify", unverified.key)}
    assert changes["update", orders.key]["old_hook_url"] == moved_to
    assert changes["verify", unverified.key]["status"] == "Unverified"
    cli.run("apply", "-f", str(config), "--auto-approve")
    cli.run("drift", "-f", str(config))


@pytest.mark.usefixtures("unreachable_api")
def test_drift_is_1_when_the_api_is_unreachable(config: Path, cli: Cli) -> None:
    result = cli.run("drift", "-f", str(config), status=1)
    out, err = result.out, result.err
    assert out == "" and "cannot connect" in err.splitlines()[-1]
