"""drift --notify, drift --format json and $GITHUB_STEP_SUMMARY, against a sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from hookctl.sandbox import Sandbox, SandboxSettings

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-NOTIFY-RECOGNISABLE-91c2"


@pytest.fixture
def drifted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, Path]]:
    """A sandbox whose account lacks one declared subscription and has one hand-made extra."""
    with Sandbox(SandboxSettings(api_key=KEY)) as sb:
        config = tmp_path / "hooks.yaml"
        config.write_text(
            "version: 1\n"
            "account:\n  credentials:\n    api_key_env: KEAP_API_KEY\n"
            f"ownership:\n  url_prefixes: ['{sb.receiver_url}/']\n"
            f"hooks:\n  - name: contacts\n    url: {sb.receiver_url}/contacts\n"
            "    events: [contact.add, contact.edit]\n"
        )
        sb.seed(
            [
                ("contact.add", f"{sb.receiver_url}/contacts", "Verified"),
                ("contact.delete", f"{sb.receiver_url}/by-hand", "Verified"),
            ]
        )
        monkeypatch.setenv("KEAP_API_URL", sb.api_url)
        monkeypatch.setenv("KEAP_API_KEY", KEY)
        for name in ("GITHUB_RUN_ID", "GITHUB_REPOSITORY", "CI_JOB_URL", "BUILD_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
        yield sb, config


def drift_validator() -> Draft202012Validator:
    schemas = {
        name: json.loads((ROOT / "schemas" / name).read_text())
        for name in ("plan.schema.json", "drift.schema.json")
    }
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return Draft202012Validator(schemas["drift.schema.json"], registry=registry)


def test_drift_notifies_the_receiver_with_the_changes_and_no_secret(
    drifted: tuple[Sandbox, Path],
    receiver: tuple[str, list[dict[str, Any]]],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, config = drifted
    url, bodies = receiver
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/keap-hooks")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    result = cli.run("-vv", "drift", "-f", str(config), "--notify", url, status=2)
    [body] = bodies
    drift_validator().validate(body)
    assert body["drifted"] is True
    assert body["summary"]["create"] == 1 and body["summary"]["delete"] == 1
    assert {c["action"] for c in body["changes"]} == {"create", "delete"}
    assert body["run_url"] == "https://github.com/acme/keap-hooks/actions/runs/42"
    assert "contact.edit" in body["text"] and body["run_url"] in body["text"]
    out, err = result.out, result.err
    for text in (json.dumps(body), out, err):
        assert KEY not in text
        assert "hook-token" not in text  # the webhook url is a credential too


def test_no_drift_sends_nothing_and_exits_0(
    drifted: tuple[Sandbox, Path], receiver: tuple[str, list[dict[str, Any]]], cli: Cli
) -> None:
    _, config = drifted
    url, bodies = receiver
    cli.run("apply", "-f", str(config), "--auto-approve")
    cli.run("drift", "-f", str(config), "--notify", url)
    assert bodies == []


def test_a_failed_notification_is_reported_but_keeps_the_drift_exit_code(
    drifted: tuple[Sandbox, Path],
    receiver: tuple[str, list[dict[str, Any]]],
    cli: Cli,
) -> None:
    _, config = drifted
    url, _ = receiver
    result = cli.run(
        "drift", "-f", str(config), "--notify", url.replace("/services/", "/fail/"), status=2
    )
    err = result.err
    assert "could not notify 127.0.0.1: HTTP 500" in err
    result = cli.run("drift", "-f", str(config), "--notify", "http://127.0.0.1:9/x", status=2)
    assert "could not notify 127.0.0.1" in result.err


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_notify_url_fails_before_any_call(
    drifted: tuple[Sandbox, Path], empty: str, cli: Cli
) -> None:
    """--notify "$UNSET_VARIABLE" in a scheduled job: an error, never a drift check that
    would tell no one."""
    sandbox, config = drifted
    result = cli.run("drift", "-f", str(config), "--notify", empty, status=1)
    assert result.err == (
        "hookctl: error: --notify: the url is empty (an unset variable?): give a url, or leave "
        "--notify out\n"
    )
    assert sandbox.stats()["calls"] == {}


def test_drift_json_is_the_documented_report(drifted: tuple[Sandbox, Path], cli: Cli) -> None:
    _, config = drifted
    result = cli.run("drift", "-f", str(config), "--format", "json", status=2)
    report = json.loads(result.out)
    drift_validator().validate(report)
    assert report["drifted"] is True and report["account"] == "default"


def test_plan_and_drift_append_markdown_to_the_github_step_summary(
    drifted: tuple[Sandbox, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    _, config = drifted
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    cli.run("plan", "-f", str(config))
    cli.run("drift", "-f", str(config), status=2)
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "### hookctl plan" in text and "### hookctl drift" in text
    assert text.count("contact.edit") >= 2
